"""First-receipt anchors for SenML times that are relative or absent, kept durably so that a redelivery lands on
the same points.

RFC 8428 lets a record's time be relative to "now" (below 2**28 s) or absent ("now" itself). The gateway's "now"
for a message is the moment it first received it: the message's *anchor*. A message the broker delivers again
(MQTT DUP flag: it was sent to us before and not acknowledged, e.g. the gateway crashed after writing its points)
is parsed against the anchor of its first receipt, so it rewrites the same points instead of adding new ones.

- Key: a 16-byte BLAKE2b digest of (topic, payload). Only redeliveries look their key up. A first delivery
  always gets its own receipt time, so a device that sends the same bytes again later (an unchanged value with no
  time) gets a new point every time; identical bytes are not taken to be the same message.
- Two first deliveries on one topic within the same millisecond get anchors 1 ms apart (two "now" packs of one
  device must not become one point).
- Order: a new anchor is *pending* until :meth:`AnchorStore.persist_pending` committed it to ``anchors.sqlite``
  (SQLite, WAL, ``synchronous=FULL``, on a worker thread). The pipeline awaits that before writing a batch
  anywhere (InfluxDB or the spool): were the points durable first, a crash before the ack would leave the
  redelivery without an anchor, and it would write a second point.
- Bounds: at most ``max_entries`` anchors (newest kept; in memory and on disk) and none older than ``max_age_ms``
  (the gateway's max_past window: a message that old is refused as timestamp-past whatever its anchor). Only a
  message that was not acknowledged is redelivered, and at most Receive Maximum (65,535) are unacknowledged at
  once, so the default of 131,072 covers every possible redelivery after a crash.

The common path pays nothing: :func:`parse_anchored` looks up nothing for a first delivery and records an anchor
only when the parser reports a relative time (:attr:`ParseOutcome.relative`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from smartcity.city.directory import DeviceDirectory
from smartcity.contract.parse import ParseLimits, parse_message
from smartcity.contract.reading import ParseOutcome
from smartcity.contract.topics import TopicScheme

log = logging.getLogger(__name__)

FILE_NAME = "anchors.sqlite"
DEFAULT_MAX_ENTRIES = 131_072
_SCHEMA = "CREATE TABLE IF NOT EXISTS anchors (key BLOB PRIMARY KEY, first_ms INTEGER NOT NULL) WITHOUT ROWID"
_TOPICS_KEPT = 65_536
_BUMP_LIMIT_MS = 1_000
"""A topic's next anchor is moved past its last one only when that is less than this far ahead of the clock."""


def message_key(topic: str, payload: bytes) -> bytes:
    """The anchor key of one message: a digest of its topic and payload."""
    digest = hashlib.blake2b(topic.encode(), digest_size=16)
    digest.update(b"\0")  # MQTT topics cannot contain U+0000: the split between topic and payload is unambiguous
    digest.update(payload)
    return digest.digest()


class AnchorStore:
    """Anchors by message key: an in-memory map backed by ``<directory>/anchors.sqlite``. Use as an async context
    manager or call :meth:`close`. Its directory must belong to one gateway process (the spool directory does)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_age_ms: int,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 2:
            raise ValueError("max_entries must be at least 2")
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self._max_age_ms = max_age_ms
        self._clock = clock
        self._half = max_entries // 2
        # Two generations instead of one map with evictions at its front (slow for a dict): when the current one
        # is full it becomes the previous one, and the previous one is forgotten.
        self._current: dict[bytes, int] = {}
        self._previous: dict[bytes, int] = {}
        self._floor_ms = 0
        """Anchors older than this were forgotten in memory: the next commit deletes them on disk too."""
        self._pending: list[tuple[bytes, int]] = []
        self._last_by_topic: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="anchors")
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        rows = self._db.execute(
            "SELECT key, first_ms FROM anchors WHERE first_ms >= ? ORDER BY first_ms DESC LIMIT ?",
            (self._now_ms() - max_age_ms, self._half),
        ).fetchall()
        self._previous = dict(reversed(rows))

    async def __aenter__(self) -> AnchorStore:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for a commit in progress, then close the file (pending anchors are not written)."""
        self._executor.shutdown(wait=True)
        self._db.close()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    @property
    def pending(self) -> int:
        """Anchors recorded but not yet durable."""
        return len(self._pending)

    def known(self, topic: str, payload: bytes) -> int | None:
        """The anchor of an earlier receipt of this message, if one is remembered."""
        key = message_key(topic, payload)
        found = self._current.get(key)
        return self._previous.get(key) if found is None else found

    def first_receipt(self, topic: str, payload: bytes, now_ms: int) -> int:
        """Record ``now_ms`` as this message's anchor (pending until :meth:`persist_pending`) and return it; moved
        1 ms past the topic's previous anchor when that is already ``now_ms`` or a little later."""
        last = self._last_by_topic.get(topic)
        anchor = last + 1 if last is not None and now_ms <= last < now_ms + _BUMP_LIMIT_MS else now_ms
        if len(self._last_by_topic) >= _TOPICS_KEPT:
            self._last_by_topic.clear()
        self._last_by_topic[topic] = anchor
        key = message_key(topic, payload)
        self._current.pop(key, None)  # re-inserted at the end: it is the newest now
        self._current[key] = anchor
        if len(self._current) >= self._half:
            self._previous, self._current = self._current, {}
            self._floor_ms = min(self._previous.values())
        self._pending.append((key, anchor))
        return anchor

    def anchor_for(self, topic: str, payload: bytes, now_ms: int, *, redelivered: bool) -> int:
        """The anchor of a message with relative times: its first receipt's when it is a redelivery of one that is
        remembered, else ``now_ms`` (recorded as pending)."""
        if redelivered:
            found = self.known(topic, payload)
            if found is not None:
                return found
        return self.first_receipt(topic, payload, now_ms)

    async def persist_pending(self) -> bool:
        """Make every anchor recorded so far durable (one fsynced commit); also forget anchors older than the
        window. True when they are durable; False when the disk refused (logged): they stay pending and the next
        call tries again. Concurrent callers wait for the commit in progress, which may hold their anchors."""
        if not self._pending and not self._lock.locked():
            return True
        async with self._lock:
            if not self._pending:
                return True
            rows, self._pending = self._pending, []
            floor = max(self._floor_ms, self._now_ms() - self._max_age_ms)
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._write, rows, floor)
            except (sqlite3.Error, OSError) as exc:
                self._pending[:0] = rows
                log.warning("%d anchors not made durable (%s): retried with the next batch", len(rows), exc)
                return False
            return True

    def _write(self, rows: list[tuple[bytes, int]], floor_ms: int) -> None:
        with self._db:  # one transaction, one fsync of the WAL
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO anchors (key, first_ms) VALUES (?, ?)", rows)
            self._db.execute("DELETE FROM anchors WHERE first_ms < ?", (floor_ms,))


def parse_anchored(
    anchors: AnchorStore,
    topic: str,
    payload: bytes,
    *,
    redelivered: bool,
    now_ms: int,
    scheme: TopicScheme,
    directory: DeviceDirectory,
    limits: ParseLimits,
) -> ParseOutcome:
    """:func:`~smartcity.contract.parse.parse_message` with relative SenML times anchored at first receipt.

    A first delivery is parsed against ``now_ms`` (the common path: no lookup, no digest); only when the outcome
    says some time was relative is the anchor recorded, and the message parsed again in the rare case the anchor
    had to move past an earlier one of the same topic. A redelivery is parsed against its remembered anchor."""
    known = anchors.known(topic, payload) if redelivered else None
    outcome = parse_message(
        topic, payload, scheme=scheme, directory=directory, now_ms=now_ms, limits=limits, anchor_ms=known
    )
    if outcome.relative and known is None:
        anchor = anchors.first_receipt(topic, payload, now_ms)
        if anchor != now_ms:
            outcome = parse_message(
                topic, payload, scheme=scheme, directory=directory, now_ms=now_ms, limits=limits, anchor_ms=anchor
            )
    return outcome
