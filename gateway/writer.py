"""Writing batches to InfluxDB: retries with jittered backoff, 413 splits, and refusals settled in as few writes as
InfluxDB's answer allows.

InfluxDB's answers decide what happens (see docs/GATEWAY.md, "Failure handling"; every generation's answers are
classified by :mod:`smartcity.influx.write_answers`):

- 204: durable.
- 5xx, 429, 404, timeouts, connection errors (:class:`InfluxUnavailable`), a 2xx that is not 204
  (:class:`InfluxNotDurable`), 401/403 and anything unexpected: retried with backoff for ``retry_s``, then
  :class:`StoreDown` is raised and the caller spools the batch. The data is fine; the store or its URL is not.
- 413 (:class:`InfluxTooLarge`): the batch is split in halves until it fits; a single point too large is refused.
- A refusal (:class:`InfluxRejected`: 400 or 422, whichever generation) never raises and is never retried as it
  stands: the refused points come back as :class:`StoreRejection`, found in as few writes as the answer allows:

  1. the answer names the refused lines (unparsable lines on 1.x/2.x, every refusal on 3.x): those are refused; the
     others are durable when the server kept them and named every refused line, else they are written again;
  2. the answer says every point was dropped (``dropped`` equals the points sent, e.g. a batch of old readings
     beyond the retention policy): all are refused at once;
  3. some points are beyond retention: the ``dropped`` oldest are written apart from the rest (InfluxDB drops the
     points older than a cut-off), which usually settles both parts in one write each;
  4. otherwise the batch is bisected: the answer does not say which points failed.

  Writing a point again is idempotent because every point's timestamp comes from the device.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.backoff import Backoff
from gateway.metrics import GatewayMetrics
from smartcity.influx.errors import (
    InfluxError,
    InfluxRejected,
    InfluxTooLarge,
    InfluxUnavailable,
    RefusedLine,
    RejectKind,
)

log = logging.getLogger(__name__)

_Part = tuple[list[str], list[str]]
"""Lines and their topics, still to be written."""


class PointStore(Protocol):
    """Where points go: InfluxDB's ``/write`` in production, an in-memory twin in unit tests."""

    async def write(self, body: bytes) -> None:
        """Write line protocol (ms precision); raise :mod:`smartcity.influx.errors` exceptions."""
        ...


class StoreDown(Exception):
    """The store kept failing for the whole retry window (unavailable, credentials refused, a 2xx that is not 204):
    spool the batch. Never raised for points the store refused for good (those are :class:`StoreRejection`)."""


@dataclass(frozen=True, slots=True)
class StoreRejection:
    """A point InfluxDB refused for good, with its answer."""

    line: str
    topic: str
    message: str
    """InfluxDB's words about this point (or about the batch, when the answer was about all of it)."""
    kind: RejectKind = RejectKind.OTHER


def encode_body(lines: Sequence[str]) -> bytes:
    return "\n".join(lines).encode()


class BatchWriter:
    """Makes a batch's points land in the store: returns the ones it refused for good, or raises
    :class:`StoreDown` (see the module docstring)."""

    def __init__(
        self,
        store: PointStore,
        metrics: GatewayMetrics,
        *,
        retry_s: float,
        backoff: Callable[[], Backoff] = lambda: Backoff(0.05, 2.0),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._retry_s = retry_s
        self._backoff = backoff
        self._sleep = sleep

    async def write(self, lines: Sequence[str], topics: Sequence[str]) -> list[StoreRejection]:
        """Write every line; return the ones the store refused for good (all others are durable)."""
        refused: list[StoreRejection] = []
        work: list[_Part] = [(list(lines), list(topics))]
        writes = 0
        while work:
            part, part_topics = work.pop()
            if not part:
                continue
            writes += 1
            try:
                await self._write_with_retry(encode_body(part))
            except InfluxTooLarge as exc:
                if len(part) == 1:
                    refused.append(StoreRejection(part[0], part_topics[0], f"point too large for InfluxDB: {exc}"))
                    continue
                log.warning("InfluxDB refused %d points as too large (413): splitting the batch", len(part))
                work += reversed(_halves(part, part_topics))
            except InfluxRejected as exc:
                settled, again = settle(part, part_topics, exc)
                log.debug("InfluxDB refused part of %d points (%s): %d settled", len(part), exc.message, len(settled))
                refused += settled
                work += reversed(again)
        if refused:
            kinds = Counter(str(rejection.kind) for rejection in refused)
            log.warning(
                "InfluxDB refused %d of %d points for good (%s) after %d writes; first: %s",
                len(refused),
                len(lines),
                ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())),
                writes,
                refused[0].message,
            )
        return refused

    async def _write_with_retry(self, body: bytes) -> None:
        backoff = self._backoff()
        deadline = time.monotonic() + self._retry_s
        while True:
            try:
                await self._store.write(body)
                return
            except (InfluxRejected, InfluxTooLarge):
                raise
            except InfluxError as exc:  # unavailable, not durable, auth, unexpected: keep the data, retry, then spool
                retry_after = exc.retry_after_s if isinstance(exc, InfluxUnavailable) else None
                retry_after = retry_after or 0.0
                delay = max(backoff.next_delay(), retry_after)
                if time.monotonic() + delay > deadline:
                    raise StoreDown(exc.message) from exc
                self._metrics.write_retries.inc()
                log.warning("InfluxDB write failed (%s), retrying in %.2f s", exc.message, delay)
                await self._sleep(delay)


def settle(lines: list[str], topics: list[str], refusal: InfluxRejected) -> tuple[list[StoreRejection], list[_Part]]:
    """What a refusal of ``lines`` settles: the points refused for good, and the parts still to be written (each
    smaller than ``lines``, so writing them again always ends)."""
    named = _named(lines, refusal)
    if named:
        settled = [StoreRejection(lines[i], topics[i], line.reason, line.kind) for i, line in sorted(named.items())]
        if refusal.partial and refusal.complete:
            return settled, []  # the server stored every other line
        rest = [i for i in range(len(lines)) if i not in named]
        return settled, [_pick(lines, topics, rest)] if rest else []
    if len(lines) == 1 or (refusal.dropped is not None and refusal.dropped >= len(lines)):
        # A batch-wide refusal: every point was dropped, for the reason the answer gives.
        return [
            StoreRejection(line, topic, refusal.message, refusal.kind)
            for line, topic in zip(lines, topics, strict=True)
        ], []
    if refusal.kind is RejectKind.BEYOND_RETENTION and refusal.dropped:
        order = _oldest_first(lines)
        if order is not None:
            old, recent = order[: refusal.dropped], order[refusal.dropped :]
            return [], [_pick(lines, topics, old), _pick(lines, topics, recent)]
    return [], _halves(lines, topics)


def _named(lines: list[str], refusal: InfluxRejected) -> dict[int, RefusedLine] | None:
    """Index in ``lines`` of every line the answer names, or None when it names none or one that is not there."""
    if not refusal.refused:
        return None
    by_text: dict[str, list[int]] | None = None
    named: dict[int, RefusedLine] = {}
    for line in refusal.refused:
        number = line.number
        if number is not None and number <= len(lines) and _same(lines[number - 1], line.text):
            named[number - 1] = line
            continue
        if by_text is None:
            by_text = defaultdict(list)
            for index, text in enumerate(lines):
                by_text[text].append(index)
        found = by_text.get(line.text)
        if not found:
            return None
        named.update(dict.fromkeys(found, line))
    return named


def _same(line: str, quoted: str) -> bool:
    # InfluxDB 3.x may cut the line it quotes; an absent quote leaves the line number to speak.
    return not quoted or line.startswith(quoted)


def _oldest_first(lines: list[str]) -> list[int] | None:
    """Indexes of ``lines`` by timestamp, oldest first; None when a line has no integer timestamp."""
    try:
        stamps = [int(line.rsplit(" ", 1)[1]) for line in lines]
    except (IndexError, ValueError):
        return None
    return sorted(range(len(lines)), key=stamps.__getitem__)


def _pick(lines: list[str], topics: list[str], indexes: list[int]) -> _Part:
    return [lines[i] for i in indexes], [topics[i] for i in indexes]


def _halves(lines: list[str], topics: list[str]) -> list[_Part]:
    middle = len(lines) // 2
    return [(lines[:middle], topics[:middle]), (lines[middle:], topics[middle:])]
