"""The dead-letter path: one :class:`~smartcity.contract.messages.DeadLetter` per rejected message.

The durable record is a ``dead_letters`` point (:mod:`smartcity.influx.schema`) that goes into the same batch as the
message's valid readings, so the message is acknowledged only once its dead letter is in InfluxDB or in the spool,
exactly like its readings. Nothing waits on the broker: the copy published on ``{root}/v1/sys/dead-letter/{reason}``
is a live feed for operators' tools (QoS 1, not awaited; a broker that has no subscriber for it answers 0x10 and
drops it, which is why it is not the record). Memory is bounded per message: one excerpt of at most
``excerpt_bytes`` and one detail of at most :data:`~smartcity.influx.schema.DETAIL_LIMIT` characters, however many
records of a pack were rejected.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from gateway.metrics import GatewayMetrics
from gateway.refusals import StoreRejection
from smartcity.city.directory import DeviceDirectory
from smartcity.contract.messages import DeadLetter
from smartcity.contract.reading import Rejection, RejectReason
from smartcity.contract.topics import TopicScheme
from smartcity.influx.schema import DETAIL_LIMIT, dead_letter_point

log = logging.getLogger(__name__)

DEFAULT_EXCERPT_BYTES = 4_096
_ENCODER = msgspec.json.Encoder()
_LOG_EVERY_S = 10.0
_LOGGED_PER_INTERVAL = 5
"""WARNING lines per reason and interval; the rest are summed up in one line per interval."""


class Publisher(Protocol):
    """The broker side the dead-letter path needs (the MQTT session in production, a twin in unit tests)."""

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> asyncio.Future[None]: ...


def dead_letter(
    rejections: Sequence[Rejection], *, topic: str, payload: bytes, received_ms: int, excerpt_bytes: int
) -> DeadLetter:
    """The dead letter of one message and all its rejections; the payload excerpt is UTF-8 text when it decodes
    (a cut inside a multi-byte character drops that character), otherwise base64."""
    first = rejections[0]
    detail = _details(rejections)
    excerpt = payload[:excerpt_bytes]
    if len(payload) > excerpt_bytes:
        detail = f"{detail} (payload cut to its first {excerpt_bytes} of {len(payload)} bytes)"
    encoding: Literal["utf-8", "base64"] = "utf-8"
    try:
        text = excerpt.decode() if len(payload) <= excerpt_bytes else _decode_cut(excerpt)
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(excerpt).decode(), "base64"
    return DeadLetter(
        first.reason.value,
        detail,
        topic,
        received_ms,
        text,
        encoding,
        first.device_id,
        len(rejections),
        len(payload),
    )


def _decode_cut(excerpt: bytes) -> str:
    # At most 3 bytes of a character cut at the end; anything else undecodable means binary.
    for trim in range(4):
        try:
            return excerpt[: len(excerpt) - trim].decode()
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8", excerpt, 0, len(excerpt), "not text")


def _details(rejections: Sequence[Rejection]) -> str:
    if len(rejections) == 1:
        return rejections[0].detail[:DETAIL_LIMIT]
    parts: list[str] = []
    size = 0
    for index, rejection in enumerate(rejections):
        part = f"{rejection.reason.value}: {rejection.detail}"
        if size + len(part) > DETAIL_LIMIT - 60:
            return "; ".join(parts) + f"; and {len(rejections) - index} more rejected"
        parts.append(part)
        size += len(part) + 2
    return "; ".join(parts)


class DeadLetters:
    """Builds dead letters, counts them, publishes the live copy and returns the durable point."""

    def __init__(
        self,
        scheme: TopicScheme,
        publisher: Publisher,
        metrics: GatewayMetrics,
        directory: DeviceDirectory,
        *,
        gateway: str,
        excerpt_bytes: int = DEFAULT_EXCERPT_BYTES,
    ) -> None:
        self._scheme = scheme
        self._publisher = publisher
        self._metrics = metrics
        self._directory = directory
        self._gateway = gateway
        self._excerpt_bytes = excerpt_bytes
        self._last_ts: dict[tuple[str, str | None], int] = {}
        self._logged: Counter[str] = Counter()
        self._unlogged: Counter[str] = Counter()
        self._log_window = time.monotonic()

    def reject(self, rejections: Sequence[Rejection], *, topic: str, payload: bytes, received_ms: int) -> str:
        """Dead-letter one message with all its ``rejections``: count every rejection by reason, publish the live
        copy, and return the ``dead_letters`` line that makes it durable (add it to the message's batch)."""
        letter = dead_letter(
            rejections, topic=topic, payload=payload, received_ms=received_ms, excerpt_bytes=self._excerpt_bytes
        )
        for rejection in rejections:
            self._metrics.rejected.labels(rejection.reason.value).inc()
        self._log(letter)
        self._publish_live(letter)
        known = letter.device_id is not None and letter.device_id in self._directory
        return dead_letter_point(letter, gateway=self._gateway, known_device=known, ts_ms=self._unique_ts(letter))

    def of_refused(self, refused: Sequence[StoreRejection]) -> tuple[list[str], list[str]]:
        """The dead-letter points (and their empty source topics) of readings InfluxDB refused for good; each
        one's payload is the refused line-protocol point."""
        received_ms = int(time.time() * 1000)
        lines = []
        for rejection in refused:
            problem = Rejection(RejectReason.STORE_REJECTED, rejection.message, _device_of(rejection.topic))
            lines.append(
                self.reject([problem], topic=rejection.topic, payload=rejection.line.encode(), received_ms=received_ms)
            )
        return lines, [""] * len(lines)

    def readings_only(self, refused: list[StoreRejection]) -> list[StoreRejection]:
        """The refused readings, which go on to their dead letter; a refused record of the platform's own (a dead
        letter, a late-data mark) has nowhere else to go: it is logged in full at ERROR and counted, never
        dead-lettered in a loop."""
        readings = [rejection for rejection in refused if rejection.topic]
        for rejection in refused:
            if not rejection.topic:
                self._metrics.records_lost.inc()
                log.error("InfluxDB refused a platform record (%s): %s", rejection.message, rejection.line)
        return readings

    def _unique_ts(self, letter: DeadLetter) -> int:
        """Receive time, bumped past the last point of the same series (reason, device) so none overwrites another."""
        key = (letter.reason, letter.device_id)
        ts = max(letter.received_ms, self._last_ts.get(key, 0) + 1)
        if len(self._last_ts) >= 65_536:  # only keys written in the last few milliseconds matter
            self._last_ts = {k: v for k, v in self._last_ts.items() if v >= ts - 1_000}
        self._last_ts[key] = ts
        return ts

    def _publish_live(self, letter: DeadLetter) -> None:
        sent = self._publisher.publish(self._scheme.dead_letter(letter.reason), _ENCODER.encode(letter), 1)
        sent.add_done_callback(self._published)

    def _published(self, sent: asyncio.Future[None]) -> None:
        if not sent.cancelled() and sent.exception() is not None:
            self._metrics.dead_letters_failed.inc()

    def _log(self, letter: DeadLetter) -> None:
        """One WARNING per message for the first few of each reason per interval, then one summary line."""
        now = time.monotonic()
        if now - self._log_window >= _LOG_EVERY_S:
            self.flush_log(now)
        if self._logged[letter.reason] < _LOGGED_PER_INTERVAL:
            self._logged[letter.reason] += 1
            log.warning("rejected %s: %s: %s", letter.topic, letter.reason, letter.detail)
        else:
            self._unlogged[letter.reason] += 1

    def flush_log(self, now: float | None = None) -> None:
        """Log the summary of rejections not logged one by one (also called at shutdown)."""
        if self._unlogged:
            summary = ", ".join(f"{reason} {count}" for reason, count in self._unlogged.most_common())
            log.warning(
                "rejected %d more messages in the last %.0f s: %s", self._unlogged.total(), _LOG_EVERY_S, summary
            )
        self._logged.clear()
        self._unlogged.clear()
        self._log_window = time.monotonic() if now is None else now


def _device_of(topic: str) -> str | None:
    """The device level of a contract topic (``{root}/v1/dev/{device}/{kind}``), else None."""
    parts = topic.split("/")
    return parts[3] if len(parts) == 5 and parts[2] == "dev" else None
