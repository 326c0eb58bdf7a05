"""The API's MQTT 5 session: publishes device commands and receives their acks.

aiomqtt 2.5 (it wraps paho): the API publishes a command now and then and receives one ack per command, so the
throughput that makes the gateway decode PUBLISH packets itself does not matter here, while aiomqtt's ``async with``
and awaitable QoS 1 ``publish`` (it returns when the broker's PUBACK arrives) fit the lifespan. Reconnection is a
loop around the client with the platform's jittered backoff (:mod:`smartcity.backoff`), reset once the ack
subscription is in place. The session is persistent (a stable client id, never a clean start, a session expiry):
acks that arrive while the API reconnects or restarts wait in the broker.

A command is published only while connected; otherwise, or when the PUBACK does not come within the publish
timeout, :class:`BrokerUnavailable` is raised and the caller answers 503. Acks are handed to ``on_ack`` in the order
they arrive; aiomqtt's queue is unbounded here, which is safe at one ack per command an operator sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from smartcity.backoff import Backoff
from smartcity.mqtt_tls import client_context
from smartcity.settings import MqttSettings

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "smartcity-api"


class BrokerUnavailable(Exception):
    """The broker cannot take a command now (not connected, or no PUBACK in time)."""


class CommandPublisher(Protocol):
    """What the command desk needs of the broker (:class:`BrokerLink` is one)."""

    async def publish(self, topic: str, payload: bytes, *, expiry_s: int) -> None:
        """Publish at QoS 1 with an MQTT 5 Message Expiry Interval; return once the broker has it."""
        ...


class BrokerLink:
    """One MQTT 5 session to the broker until cancelled (:meth:`run`), publishing through :meth:`publish`."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        ack_filter: str,
        on_ack: Callable[[str, bytes], object],
        session_expiry_s: int,
        publish_timeout_s: float,
        backoff: Backoff | None = None,
    ) -> None:
        self._settings = settings
        self._ack_filter = ack_filter
        self._on_ack = on_ack
        self._session_expiry_s = session_expiry_s
        self._publish_timeout_s = publish_timeout_s
        self._backoff = backoff or Backoff(0.2, 30.0)
        self._client: aiomqtt.Client | None = None
        self._tls = client_context(settings)
        self.client_id = settings.client_id or DEFAULT_CLIENT_ID
        self.connected = asyncio.Event()
        """Set while the session is up and subscribed to the acks."""

    async def publish(self, topic: str, payload: bytes, *, expiry_s: int) -> None:
        client = self._client
        if client is None:
            raise BrokerUnavailable(f"not connected to the broker at {self._settings.host}:{self._settings.port}")
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
        properties.MessageExpiryInterval = expiry_s
        try:
            await client.publish(topic, payload, qos=1, properties=properties, timeout=self._publish_timeout_s)
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(f"the broker did not take the command: {exc}") from exc

    def _client_for(self) -> aiomqtt.Client:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._session_expiry_s
        password = self._settings.password.get_secret_value() if self._settings.password else None
        return aiomqtt.Client(
            self._settings.host,
            self._settings.port,
            username=self._settings.username,
            password=password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            keepalive=self._settings.keepalive_s,
            properties=properties,
            timeout=self._publish_timeout_s,
            tls_context=self._tls,
        )

    async def run(self) -> None:
        """Connect, subscribe to the acks, hand each to ``on_ack``; reconnect with backoff until cancelled."""
        failures = 0
        while True:
            try:
                async with self._client_for() as client:
                    await client.subscribe(self._ack_filter, qos=1)
                    self._client = client
                    self.connected.set()
                    self._backoff.reset()
                    log.info(
                        "broker %s:%s: connected as %s, following %s%s",
                        self._settings.host,
                        self._settings.port,
                        self.client_id,
                        self._ack_filter,
                        f" after {failures} failed attempts" if failures else "",
                    )
                    failures = 0
                    async for message in client.messages:
                        self._deliver(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                if failures == 0:
                    log.warning("broker %s:%s unreachable (%s); commands answer 503", *self._where(), exc)
                failures += 1
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(self._backoff.next_delay())

    def _where(self) -> tuple[str, int]:
        return self._settings.host, self._settings.port

    def _deliver(self, topic: str, payload: object) -> None:
        if isinstance(payload, bytes | bytearray):
            raw = bytes(payload)
        else:
            raw = b"" if payload is None else str(payload).encode()
        try:
            self._on_ack(topic, raw)
        except Exception:  # the top of the receive loop: one bad ack must not drop the session
            log.exception("handling the message on %s failed", topic)
