"""The publishing side of a broadband device: due readings and their message faults, a bounded outbox, the QoS 1
window in flight, packet ids that survive reconnects, PUBACKs, and the resend after a reconnect.

:class:`BroadbandPublisher` opens no connection: :class:`devices.broadband.BroadbandDevice` keeps the session up
and sets :attr:`~BroadbandPublisher.session`. Everything the device sends goes through ``_publish``: into the
outbox (its oldest entry dropped past ``outbox_limit``), then out as far as the window allows, in one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from typing import TYPE_CHECKING

from devices import mqtt5
from devices.device_core import DeviceCore, RunContext
from devices.faults import MALFORMED_PAYLOAD, DeviceFaults, Fault
from devices.outgoing import Outgoing, enqueue, record_puback, send_fault_copies
from devices.session import MqttSession
from devices.session_errors import SessionError
from devices.signals import DeviceContext
from smartcity.contract.reading import Reading
from smartcity.contract.topics import TopicKind
from smartcity.contract.wire import encode_reading_json

if TYPE_CHECKING:
    from devices.broadband import BrokerTarget

_DROPPED = "dropped_device_buffer_full"


class BroadbandPublisher:
    """What one broadband device sends and what is still unacknowledged. :meth:`emit` publishes due readings."""

    def __init__(self, ctx: DeviceContext, run: RunContext, faults: DeviceFaults, target: BrokerTarget) -> None:
        self.core = DeviceCore(ctx, run, faults)
        self.run_ctx = run
        self.target = target
        self._reading_topic = mqtt5.encode_topic(run.scheme.device(ctx.device.id, TopicKind.READING))
        self.session: MqttSession | None = None
        self._inflight: dict[int, Outgoing] = {}
        """packet id -> (topic, payload, retain) until the PUBACK."""
        self._outbox: deque[Outgoing] = deque()
        self._held: bytes | None = None
        self._window = target.max_inflight
        self._last_will_ack: asyncio.Future[None] | None = None
        self._last_will_id = -1
        self._packet_id = 1000  # the session numbers its SUBSCRIBEs from 1; publishes start elsewhere

    @property
    def device_id(self) -> str:
        return self.core.device_id

    @property
    def connected(self) -> bool:
        return self.session is not None and self.session.connected

    @property
    def idle(self) -> bool:
        """Nothing waits to be sent or acknowledged."""
        return not self._outbox and not self._inflight

    # -- publishing ----------------------------------------------------------------------------------------
    def _resend(self, session: MqttSession, session_present: bool) -> None:
        """After a reconnect: what the broker never acknowledged goes out again (same packet id and DUP when the
        broker kept the session, as new publishes otherwise), then the buffered readings."""
        pending = list(self._inflight.items())
        self._inflight.clear()
        for packet_id, (topic, payload, retain) in pending:
            if session_present:
                session.send(
                    mqtt5.set_dup(mqtt5.encode_publish(topic, payload, qos=1, packet_id=packet_id, retain=retain))
                )
                self._inflight[packet_id] = (topic, payload, retain)
            else:
                self._outbox.appendleft((topic, payload, retain))
        self.run_ctx.stats.count("resent", len(pending))
        self._flush()

    def emit(self, now_wall: float) -> float | None:
        """Publish every reading that is due; returns the wall time of the next one (None once dead)."""
        if self.core.dead or self.run_ctx.stopping:
            return None
        for reading in self.core.due_readings(now_wall, limit=64):
            self._send_reading(reading)
        # With a burst of N, the device wakes every N intervals and sends the readings of all of them at once.
        core = self.core
        return self.run_ctx.clock.wall_at(core.next_ms + (self.run_ctx.burst - 1) * core.interval_ms)

    def _send_reading(self, reading: Reading) -> None:
        faults, stats = self.core.faults, self.run_ctx.stats
        seq = reading.seq or 0  # the simulator numbers every reading (None is for third-party SenML)
        payload = encode_reading_json(reading)
        if not faults.rates:  # the common case: no message faults, one publish
            self._publish(self._reading_topic, payload)
            return
        if faults.hits(Fault.REORDER, seq) and self._held is None:
            self._held = payload
            stats.fault(Fault.REORDER)
            return
        self._publish(self._reading_topic, payload)
        if self._held is not None:
            self._publish(self._reading_topic, self._held)
            self._held = None
        publish = functools.partial(self._publish, self._reading_topic)
        send_fault_copies(faults, stats, seq, publish, payload, MALFORMED_PAYLOAD)

    def _release_held(self) -> None:
        """At a clean end: a reading held back for reordering goes out (it was counted as sent when made)."""
        if self._held is not None:
            self._publish(self._reading_topic, self._held)
            self._held = None

    def _publish(self, topic: bytes, payload: bytes, retain: bool = False) -> None:
        enqueue(self._outbox, (topic, payload, retain), self.target.outbox_limit, self.run_ctx.stats, _DROPPED)
        self._flush()

    def _flush(self) -> None:
        session = self.session
        if session is None or not session.connected:
            return
        outbox, inflight = self._outbox, self._inflight
        packets: list[bytes] = []
        while outbox and len(inflight) < self._window:
            topic, payload, retain = outbox.popleft()
            packet_id = self._new_id()
            packets.append(mqtt5.encode_publish(topic, payload, qos=1, packet_id=packet_id, retain=retain))
            inflight[packet_id] = (topic, payload, retain)
        if not packets:
            return
        data = packets[0] if len(packets) == 1 else b"".join(packets)  # one write, one segment for a burst
        counters = self.run_ctx.stats.counters
        counters["messages_sent"] += len(packets)
        counters["bytes_sent"] += len(data)
        with contextlib.suppress(SessionError):  # the connection just went: they are in flight, resent later
            session.send(data)

    def _new_id(self) -> int:
        """A packet id not used by any unacknowledged publish, also across reconnects (resent ones keep theirs)."""
        while True:
            self._packet_id = self._packet_id % 0xFFFF + 1
            if self._packet_id not in self._inflight and self._packet_id != self._last_will_id:
                return self._packet_id

    def _on_ack(self, packet_id: int, reason: int) -> None:
        if packet_id == self._last_will_id and self._last_will_ack is not None and not self._last_will_ack.done():
            self.run_ctx.stats.counters["acked"] += 1
            self._last_will_ack.set_result(None)
            return
        if record_puback(self._inflight, packet_id, reason, self.run_ctx.stats, self.device_id) and self._outbox:
            self._flush()
