"""Answers from closed roll-up windows, kept while they cannot change.

An indicator over completed hours, or a history answered wholly from roll-ups, depends only on roll-up points the
worker has finished: those change only when the worker redoes a window for late data, and after every such redo it
writes a ``rewritten`` mark (:data:`smartcity.rollups.REWRITTEN`). :class:`RollupWatch` reads the worker's progress
and that mark (one small query, at most once per ``ttl_s``); :class:`AnswerCache` keeps encoded answers keyed by
the request (its period already narrowed to completed windows, so progress moving on makes a new key) and the mark
they were computed under. Concurrent requests for the same missing answer wait for one computation. A history
that reaches past the completed windows keeps the series of its roll-up statement and reads only the rest (the
newest, not yet rolled-up minutes) from raw points on each request.

Answers are bounded by total bytes (least recently used go first); ``max_bytes = 0`` turns the cache off.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from services.api.compression import KEPT_LEVEL, gzip_bytes
from smartcity.influx.client import Series
from smartcity.rollups import REWRITTEN, ProgressQueries, read_all_progress


class RollupWatch:
    """The roll-up worker's progress per tier (``1m``, ``1h``, ``1d``, ``rewritten``) as of at most ``ttl_s``
    ago; one reader refreshes it while the others wait for that answer."""

    def __init__(self, store: ProgressQueries, *, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._read_at = -float("inf")
        self._progress: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def progress(self) -> dict[str, int]:
        if self._clock() - self._read_at < self._ttl_s:
            return self._progress
        async with self._lock:
            if self._clock() - self._read_at >= self._ttl_s:
                started = self._clock()
                self._progress = await read_all_progress(self._store)
                self._read_at = started
        return self._progress

    async def completed(self, tier: str) -> int | None:
        """Where ``tier`` is complete up to (ms), or None before the worker completed any of it."""
        return (await self.progress()).get(tier)

    async def generation(self) -> int:
        """The time of the worker's last redo of a window (0: never): answers computed before it are stale."""
        return (await self.progress()).get(REWRITTEN, 0)


@dataclass(slots=True)
class Answer:
    body: bytes
    """The encoded answer."""
    rows: int
    """What it holds, for the audit trail."""
    _gzipped: bytes | None = field(default=None, repr=False, compare=False)

    def gzipped(self) -> bytes:
        """The body compressed (once: every client that accepts gzip gets these bytes)."""
        if self._gzipped is None:
            self._gzipped = gzip_bytes(self.body, KEPT_LEVEL)
        return self._gzipped


T = TypeVar("T")


def answer_bytes(answer: Answer) -> int:
    return len(answer.body)


def series_bytes(series: list[Series]) -> int:
    """About what a decoded answer holds in memory: about 64 bytes per value (a row of time and value is a list
    of two, an int and a float: 124 bytes)."""
    return 200 + sum(64 * len(s.values[0]) * len(s.values) if s.values else 100 for s in series)


class Flights(Generic[T]):
    """One computation per key at a time: requests that find one running wait for its answer (or its error)."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The answer, and whether this call computed it."""
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending), False
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            answer = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        else:
            future.set_result(answer)
            return answer, True
        finally:
            del self._pending[key]


class AnswerCache(Generic[T]):
    """Answers by key (encoded ones, or the series of a roll-up statement), each valid for the generation it was
    computed under; ``weigh`` tells an answer's size in bytes."""

    def __init__(self, max_bytes: int, weigh: Callable[[T], int]) -> None:
        self.max_bytes = max_bytes
        self._weigh = weigh
        self._answers: OrderedDict[Hashable, tuple[int, T, int]] = OrderedDict()
        self._size = 0
        self._flights: Flights[T] = Flights()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    async def get(self, key: Hashable, generation: int, compute: Callable[[], Awaitable[T]]) -> T:
        """The answer for ``key`` under ``generation``: kept, being computed by another request, or computed now.
        A failed computation fails every request waiting for it and keeps nothing."""
        if not self.max_bytes:
            return await compute()
        kept = self._answers.get(key)
        if kept is not None and kept[0] == generation:
            self._answers.move_to_end(key)
            self.hits += 1
            return kept[1]
        answer, computed = await self._flights.run((key, generation), compute)
        if computed:
            self.misses += 1
            self._keep(key, generation, answer)
        else:
            self.hits += 1
        return answer

    def clear(self) -> None:
        """Forget every answer (data they were computed from was deleted: a decommissioned device)."""
        self._answers.clear()
        self._size = 0

    def _keep(self, key: Hashable, generation: int, answer: T) -> None:
        size = self._weigh(answer)
        if size > self.max_bytes // 4:
            return  # one answer never pushes out most of the others
        old = self._answers.pop(key, None)
        if old is not None:
            self._size -= old[2]
        self._answers[key] = (generation, answer, size)
        self._size += size
        while self._size > self.max_bytes:
            _key, (_generation, _dropped, dropped_size) = self._answers.popitem(last=False)
            self._size -= dropped_size


class RecentAnswers(Generic[T]):
    """Answers by key for ``ttl_s`` (what another process writes now and then, such as the quality worker's flags):
    one computation for concurrent requests, at most ``max_entries`` kept."""

    def __init__(self, ttl_s: float, *, max_entries: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._answers: dict[Hashable, tuple[float, T]] = {}
        self._flights: Flights[T] = Flights()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        kept = self._answers.get(key)
        if kept is not None and self._clock() - kept[0] < self._ttl_s:
            return kept[1]
        started = self._clock()
        answer, computed = await self._flights.run(key, compute)
        if computed:
            if len(self._answers) >= self._max_entries:
                self._answers.clear()
            self._answers[key] = (started, answer)
        return answer
