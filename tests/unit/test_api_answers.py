"""The closed-window answer cache: kept per generation, one computation for concurrent requests, failures kept
by nobody, bounded by bytes; the roll-up watch reads progress at most once per interval."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from services.api.answers import Answer, AnswerCache, RecentAnswers, RollupWatch, answer_bytes
from smartcity.influx.client import ParamValue, Series
from smartcity.rollups import REWRITTEN


class Counting:
    def __init__(self, body: bytes = b"answer") -> None:
        self.calls = 0
        self.body = body
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> Answer:
        self.calls += 1
        await self.release.wait()
        return Answer(self.body + str(self.calls).encode(), 3)


async def test_an_answer_is_kept_for_its_generation_and_recomputed_after_a_rewrite() -> None:
    cache, compute = AnswerCache(1 << 20, answer_bytes), Counting()
    first = await cache.get("k", 0, compute)
    assert await cache.get("k", 0, compute) == first
    assert compute.calls == 1
    assert (cache.hits, cache.misses) == (1, 1)
    again = await cache.get("k", 7, compute)  # the worker redid a window since
    assert again != first
    assert compute.calls == 2
    assert await cache.get("other", 7, compute) != again  # keys apart
    assert compute.calls == 3


async def test_concurrent_requests_for_a_missing_answer_wait_for_one_computation() -> None:
    cache, compute = AnswerCache(1 << 20, answer_bytes), Counting()
    compute.release.clear()
    waiting = [asyncio.create_task(cache.get("k", 0, compute)) for _ in range(32)]
    await asyncio.sleep(0)
    compute.release.set()
    answers = await asyncio.gather(*waiting)
    assert compute.calls == 1
    assert all(answer is answers[0] for answer in answers)


async def test_a_failed_computation_fails_its_waiters_and_keeps_nothing() -> None:
    cache = AnswerCache(1 << 20, answer_bytes)
    gate = asyncio.Event()

    async def failing() -> Answer:
        await gate.wait()
        raise RuntimeError("influxd went away")

    waiting = [asyncio.create_task(cache.get("k", 0, failing)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    compute = Counting()
    await cache.get("k", 0, compute)
    assert compute.calls == 1  # nothing was kept from the failure


async def test_the_cache_holds_at_most_its_bytes_least_recently_used_first() -> None:
    cache = AnswerCache(400, answer_bytes)
    for key in "abcd":
        await cache.get(key, 0, Counting(b"x" * 90))
    assert cache.size_bytes <= 400
    await cache.get("a", 0, Counting())  # used: kept over b
    await cache.get("e", 0, Counting(b"x" * 90))
    compute = Counting()
    await cache.get("b", 0, compute)
    assert compute.calls == 1  # b went first
    big = Counting(b"x" * 200)  # over a quarter of the cache: answered, never kept
    await cache.get("big", 0, big)
    await cache.get("big", 0, big)
    assert big.calls == 2


async def test_a_cache_of_zero_bytes_computes_every_answer() -> None:
    cache, compute = AnswerCache(0, answer_bytes), Counting()
    await cache.get("k", 0, compute)
    await cache.get("k", 0, compute)
    assert compute.calls == 2


class ProgressTwin:
    def __init__(self) -> None:
        self.marks = {"1h": 3_600_000}
        self.queries = 0

    async def query(self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms") -> list[Series]:
        self.queries += 1
        assert 'GROUP BY "tier"' in q
        return [Series("rollup_progress", {"tier": t}, ["time", "last"], [[0, ms]]) for t, ms in self.marks.items()]


async def test_the_watch_reads_progress_at_most_once_per_interval() -> None:
    store, now = ProgressTwin(), [100.0]
    watch = RollupWatch(store, ttl_s=1.0, clock=lambda: now[0])
    assert await watch.completed("1h") == 3_600_000
    assert await watch.generation() == 0
    assert await watch.completed("1d") is None
    assert store.queries == 1
    store.marks |= {"1h": 7_200_000, REWRITTEN: 99}
    now[0] += 0.5
    assert await watch.completed("1h") == 3_600_000  # within the interval: as read
    now[0] += 0.6
    assert list(await asyncio.gather(watch.completed("1h"), watch.generation())) == [7_200_000, 99]
    assert store.queries == 2


@pytest.mark.parametrize("tags", [{}, {"tier": "1m"}])
async def test_marks_without_a_tier_or_value_are_ignored(tags: dict[str, str]) -> None:
    class Odd(ProgressTwin):
        async def query(
            self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms"
        ) -> list[Series]:
            return [Series("rollup_progress", tags, ["time", "last"], [[0, None]])]

    assert await RollupWatch(Odd(), ttl_s=1.0).progress() == {}


async def test_recent_answers_are_read_again_after_their_time() -> None:
    now = [0.0]
    recent: RecentAnswers[Answer] = RecentAnswers(5.0, max_entries=2, clock=lambda: now[0])
    compute = Counting()
    compute.release.clear()
    together = [asyncio.create_task(recent.get("flags", compute)) for _ in range(8)]
    await asyncio.sleep(0)
    compute.release.set()
    first = await asyncio.gather(*together)
    assert compute.calls == 1
    assert all(answer is first[0] for answer in first)
    now[0] = 4.9
    assert await recent.get("flags", compute) is first[0]
    now[0] = 5.0
    assert await recent.get("flags", compute) is not first[0]
    assert compute.calls == 2
