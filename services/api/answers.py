"""Answers from closed roll-up windows, kept while they cannot change.

An indicator over completed hours, or a history answered wholly from roll-ups, depends only on roll-up points the
worker has finished: those change only when the worker redoes a window for late data, and after every such redo it
writes a ``rewritten`` mark (:data:`smartcity.rollups.REWRITTEN`). :class:`RollupWatch` reads the worker's progress
and that mark (one small query, at most once per ``ttl_s``); :class:`AnswerCache` keeps encoded answers keyed by
the request (its period already narrowed to completed windows, so progress moving on makes a new key) and the mark
they were computed under. Concurrent requests for the same missing answer wait for one computation.

Answers are bounded by total bytes (least recently used go first); ``max_bytes = 0`` turns the cache off.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import NamedTuple

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


class Answer(NamedTuple):
    body: bytes
    """The encoded answer."""
    rows: int
    """What it holds, for the audit trail."""


class AnswerCache:
    """Encoded answers by key, each valid for the generation it was computed under."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._answers: OrderedDict[Hashable, tuple[int, Answer]] = OrderedDict()
        self._size = 0
        self._pending: dict[tuple[Hashable, int], asyncio.Future[Answer]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    async def get(self, key: Hashable, generation: int, compute: Callable[[], Awaitable[Answer]]) -> Answer:
        """The answer for ``key`` under ``generation``: kept, being computed by another request, or computed now.
        A failed computation fails every request waiting for it and keeps nothing."""
        if not self.max_bytes:
            return await compute()
        kept = self._answers.get(key)
        if kept is not None and kept[0] == generation:
            self._answers.move_to_end(key)
            self.hits += 1
            return kept[1]
        pending = self._pending.get((key, generation))
        if pending is not None:
            self.hits += 1
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[key, generation] = future
        try:
            answer = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        else:
            future.set_result(answer)
            self._keep(key, generation, answer)
            return answer
        finally:
            del self._pending[key, generation]

    def _keep(self, key: Hashable, generation: int, answer: Answer) -> None:
        if len(answer.body) > self.max_bytes // 4:
            return  # one answer never pushes out most of the others
        old = self._answers.pop(key, None)
        if old is not None:
            self._size -= len(old[1].body)
        self._answers[key] = (generation, answer)
        self._size += len(answer.body)
        while self._size > self.max_bytes:
            _key, (_generation, dropped) = self._answers.popitem(last=False)
            self._size -= len(dropped.body)
