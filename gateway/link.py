"""The pipeline's stable handle on the broker while sessions come and go across reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.broker_session import BrokerError, BrokerSession


class BrokerLink:
    """Forwards acks, publishes and flow control to the current :class:`BrokerSession`, if any.

    Acks while disconnected are dropped on purpose: message ids are only meaningful on the connection that
    delivered them, and the broker redelivers every un-acked QoS 1 message of the persistent session.
    """

    def __init__(self) -> None:
        self._session: BrokerSession | None = None
        self._paused = False
        self.acked = 0
        """Messages acknowledged on the current session: the sign that it makes progress."""

    def attach(self, session: BrokerSession) -> None:
        self._session = session
        self.acked = 0
        if self._paused:
            session.pause_reading()

    def detach(self) -> None:
        self._session = None

    @property
    def connected(self) -> bool:
        return self._session is not None and self._session.is_open

    def ack(self, mids: Sequence[int]) -> None:
        if self._session is not None and self._session.is_open:
            self._session.ack(mids)
            self.acked += len(mids)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> asyncio.Future[None]:
        if self._session is None:
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            failed.set_exception(BrokerError("not connected"))
            return failed
        return self._session.publish(topic, payload, qos)

    def pause_reading(self) -> None:
        self._paused = True
        if self._session is not None:
            self._session.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        if self._session is not None:
            self._session.resume_reading()
