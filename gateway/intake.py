"""The hot path: every MQTT message, synchronously from the broker adapter's read callback, into the open batch.

Per message: parse and validate against the contract and the registry, check device health (duplicates, gaps),
encode line protocol into the open batch, add one dead-letter point for a message with rejections (all of them in
one), and remember the message id so it is acknowledged when the batch is durable. A batch is sealed when it holds
``batch_size`` points or messages, or when it has been open for ``batch_ms``. Counters are kept as plain integers
here and added to Prometheus once per batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.anchors import AnchorStore, parse_anchored
from gateway.batching import AckLedger, Batch
from gateway.collisions import CollisionGuard
from gateway.deadletter import DEFAULT_EXCERPT_BYTES, DeadLetters, Publisher
from gateway.health import DeviceHealth
from gateway.metrics import GatewayMetrics
from smartcity.city.directory import DeviceDirectory
from smartcity.contract.messages import DeviceState
from smartcity.contract.parse import ParseLimits, parse_birth, parse_message, parse_status
from smartcity.contract.reading import Rejection, RejectReason
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.influx.lineprotocol import LineEncoder, LineProtocolError

log = logging.getLogger(__name__)

_TELEMETRY = frozenset({TopicKind.READING.value, TopicKind.SENML.value, TopicKind.SENML_CBOR.value})
_STATUS, _BIRTH, _ACK = TopicKind.STATUS.value, TopicKind.BIRTH.value, TopicKind.COMMAND_ACK.value
_KINDS = frozenset(kind.value for kind in TopicKind)


class Intake:
    """Turns messages into batches. ``on_sealed`` receives each batch once it is full or old enough."""

    def __init__(
        self,
        *,
        scheme: TopicScheme,
        directory: DeviceDirectory,
        health: DeviceHealth,
        dead_letters: DeadLetters,
        ledger: AckLedger,
        metrics: GatewayMetrics,
        limits: ParseLimits,
        batch_size: int,
        batch_ms: int,
        on_sealed: Callable[[Batch], None],
        anchors: AnchorStore | None = None,
    ) -> None:
        self._scheme = scheme
        self._anchors = anchors  # None: relative SenML times count from each receipt (no redelivery mapping)
        self._collisions = CollisionGuard()
        self._directory = directory
        self._encode = LineEncoder(directory).encode_parsed  # readings here come from parse_message
        self._health = health
        self._dead_letters = dead_letters
        self._ledger = ledger
        self._metrics = metrics
        self._limits = limits
        self._batch_size = batch_size
        self._batch_s = batch_ms / 1000
        self._on_sealed = on_sealed
        self._batch: Batch | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._received: Tally[str] = Tally()
        self._duplicates = 0
        self._gaps = 0

    def on_message(self, topic: str, payload: bytes, qos: int, mid: int, dup: bool = False) -> None:
        """The broker adapter's sink. Never raises: every failure becomes a dead letter."""
        batch = self._batch
        if batch is None:
            batch = self._open()
        kind = topic[topic.rfind("/") + 1 :]
        self._received[kind if kind in _KINDS else "other"] += 1
        now_ms = int(time.time() * 1000)
        rejections: list[Rejection] | None = None
        try:
            if kind in _TELEMETRY:
                rejections = self._telemetry(batch, topic, payload, now_ms, dup)
            elif kind in (_STATUS, _BIRTH):
                rejections = self._document(topic, payload, kind, now_ms)
            elif kind != _ACK:
                rejections = [Rejection(RejectReason.BAD_TOPIC, "not a gateway topic")]
        except Exception as exc:  # a bug must cost one message (dead-lettered), never the stream
            log.exception("unexpected failure on %s", topic)
            rejections = [Rejection(RejectReason.WRONG_SCHEMA, f"internal: {exc!r}")]
        if rejections:
            batch.lines.append(self._dead_letters.reject(rejections, topic=topic, payload=payload, received_ms=now_ms))
            batch.topics.append("")
            batch.dead_letters += 1
        if qos:
            batch.mids.append(mid)
        size = self._batch_size
        # Messages without points (status, birth) count too, so a batch stays bounded in a storm.
        if len(batch.lines) >= size or len(batch.mids) >= size:
            self.seal()

    def _telemetry(self, batch: Batch, topic: str, payload: bytes, now_ms: int, dup: bool) -> list[Rejection]:
        scheme, directory, limits = self._scheme, self._directory, self._limits
        anchors = self._anchors
        if anchors is None or not dup:
            outcome = parse_message(topic, payload, scheme=scheme, directory=directory, now_ms=now_ms, limits=limits)
            if anchors is not None and outcome.relative:  # a first receipt with relative times: its anchor is now
                outcome = parse_anchored(
                    anchors, topic, payload, redelivered=False, now_ms=now_ms, scheme=scheme, directory=directory,
                    limits=limits,
                )  # fmt: skip
        else:  # a redelivery (MQTT DUP) is parsed against its first receipt's anchor
            outcome = parse_anchored(
                anchors,
                topic,
                payload,
                redelivered=dup,
                now_ms=now_ms,
                scheme=scheme,
                directory=directory,
                limits=limits,
            )
        observe = self._health.observe
        rejections = outcome.rejections
        for reading in outcome.readings:
            collision = self._collisions.check(reading)
            if collision is not None:  # would overwrite another reading's values: keep the first, refuse this one
                rejections.append(Rejection(RejectReason.TIMESTAMP_COLLISION, collision, reading.device_id))
                continue
            if reading.seq is None:  # no sequence number: loss unmeasured, no sequence accounting
                duplicate, gaps = False, 0
            else:
                duplicate, gaps = observe(reading.device_id, reading.seq, reading.ts_ms, now_ms)
            if duplicate:
                # Still written: the same device timestamp makes it the same point (harmless), and should it be a
                # different reading after all (a device reusing sequence numbers), it is not lost.
                self._duplicates += 1
            if gaps:
                self._gaps += gaps
            try:
                lines = self._encode(reading)
            except LineProtocolError as exc:
                rejections.append(
                    Rejection(RejectReason.STORE_REJECTED, f"cannot be written: {exc}", reading.device_id)
                )
                continue
            batch.lines += lines
            if len(lines) == 1:
                batch.topics.append(topic)
            else:
                batch.topics += [topic] * len(lines)
            batch.ts_ms.append(reading.ts_ms)  # one per accepted reading: also the readings_accepted count
        return rejections

    def _document(self, topic: str, payload: bytes, kind: str, now_ms: int) -> list[Rejection] | None:
        if not payload:
            return None  # an empty retained message clears a retained status or birth: nothing to record
        parse = parse_status if kind == _STATUS else parse_birth
        parsed = parse(topic, payload, scheme=self._scheme, directory=self._directory)
        if isinstance(parsed, Rejection):
            return [parsed]
        device_id, document = parsed
        online = getattr(document, "state", DeviceState.ONLINE) is DeviceState.ONLINE
        self._health.set_online(device_id, online, now_ms)
        return None

    # -- batches -----------------------------------------------------------------------------------------------

    def _open(self) -> Batch:
        batch = self._batch = Batch(self._ledger.generation)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._batch_s, self._seal_if_current, batch)
        return batch

    def _seal_if_current(self, batch: Batch) -> None:
        if self._batch is batch:
            self.seal()

    def seal(self) -> None:
        """Close the open batch (if any) and hand it on; also publishes the counters gathered for it."""
        batch, self._batch = self._batch, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush_counters(batch)
        if batch is None or batch.empty:
            return
        self._ledger.register(batch)
        self._metrics.inflight_unacked.set(self._ledger.unacked)
        self._on_sealed(batch)

    def _flush_counters(self, batch: Batch | None) -> None:
        m = self._metrics
        for kind, count in self._received.items():
            m.messages_received.labels(kind).inc(count)
        self._received.clear()
        if batch is not None and batch.ts_ms:
            m.readings_accepted.inc(len(batch.ts_ms))
        if self._duplicates:
            m.duplicates.inc(self._duplicates)
            self._duplicates = 0
        if self._gaps:
            m.gaps.inc(max(self._gaps, 0))
            self._gaps = 0


class Broker(Publisher, Protocol):
    """The broker side the intake's parts need: acknowledging messages and publishing dead letters."""

    def ack(self, mids: Sequence[int]) -> None: ...


@dataclass(frozen=True, slots=True)
class IntakeParts:
    """The parts the intake shares with the pipeline, wired as the gateway runs them (the service builds them on
    the broker link, unit tests on the in-memory twin)."""

    scheme: TopicScheme
    directory: DeviceDirectory
    metrics: GatewayMetrics
    ledger: AckLedger
    health: DeviceHealth
    dead_letters: DeadLetters

    @classmethod
    def wire(
        cls,
        scheme: TopicScheme,
        directory: DeviceDirectory,
        broker: Broker,
        metrics: GatewayMetrics,
        *,
        gateway: str = "gateway",
        excerpt_bytes: int = DEFAULT_EXCERPT_BYTES,
    ) -> IntakeParts:
        """Acks go out through ``broker`` in arrival order, live dead letters are published on it; ``gateway``
        (the replica's client id) tags the stored dead letters."""
        ledger, health = AckLedger(broker.ack), DeviceHealth(directory)
        letters = DeadLetters(scheme, broker, metrics, directory, gateway=gateway, excerpt_bytes=excerpt_bytes)
        return cls(scheme, directory, metrics, ledger, health, letters)

    def intake(
        self,
        *,
        limits: ParseLimits,
        batch_size: int,
        batch_ms: int,
        on_sealed: Callable[[Batch], None],
        anchors: AnchorStore | None = None,
    ) -> Intake:
        """The intake on these parts; ``on_sealed`` receives each sealed batch; ``anchors`` resolves relative
        SenML times against first receipt (the pipeline must persist them before it writes a batch)."""
        return Intake(
            scheme=self.scheme,
            directory=self.directory,
            health=self.health,
            dead_letters=self.dead_letters,
            ledger=self.ledger,
            metrics=self.metrics,
            limits=limits,
            batch_size=batch_size,
            batch_ms=batch_ms,
            on_sealed=on_sealed,
            anchors=anchors,
        )
