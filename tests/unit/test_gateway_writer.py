import pytest

from gateway.backoff import Backoff
from gateway.metrics import GatewayMetrics
from gateway.writer import BatchWriter, StoreDown
from smartcity.influx.errors import InfluxError, InfluxRejected, InfluxTooLarge, InfluxUnavailable
from tests.gateway_twins import MemoryStore


async def _no_sleep(_seconds: float) -> None:
    return None


def _writer(store: MemoryStore, metrics: GatewayMetrics, retry_s: float = 60.0) -> BatchWriter:
    return BatchWriter(store, metrics, retry_s=retry_s, backoff=lambda: Backoff(0.001, 0.002), sleep=_no_sleep)


LINES = [f"m,device=d{i} v={i} {1000 + i}" for i in range(10)]
TOPICS = [f"c/v1/dev/d{i}/reading" for i in range(10)]


async def test_retries_unavailable_then_succeeds() -> None:
    store, metrics = MemoryStore(), GatewayMetrics()
    failures = iter([InfluxUnavailable("503", status=503), InfluxUnavailable("timeout")])
    store.fail = lambda _lines: next(failures, None)
    assert await _writer(store, metrics).write(LINES, TOPICS) == []
    assert store.lines == LINES
    assert store.calls == 3
    assert metrics.write_retries._value.get() == 2


async def test_gives_up_after_the_retry_window_so_the_caller_spools() -> None:
    store, metrics = MemoryStore(), GatewayMetrics()
    store.fail = lambda _lines: InfluxUnavailable("connection refused")
    with pytest.raises(StoreDown, match="connection refused"):
        await _writer(store, metrics, retry_s=0.0).write(LINES, TOPICS)
    assert store.lines == []


async def test_unexpected_errors_are_retried_too_never_dropped() -> None:
    store = MemoryStore()
    store.fail = lambda _lines: InfluxError("302 Found")
    with pytest.raises(StoreDown):
        await _writer(store, GatewayMetrics(), retry_s=0.0).write(LINES, TOPICS)


async def test_413_splits_until_the_halves_fit() -> None:
    store = MemoryStore()
    store.fail = lambda lines: InfluxTooLarge("413") if len(lines) > 3 else None
    assert await _writer(store, GatewayMetrics()).write(LINES, TOPICS) == []
    assert sorted(store.lines) == sorted(LINES)


async def test_a_single_point_too_large_is_rejected() -> None:
    store = MemoryStore()
    store.fail = lambda _lines: InfluxTooLarge("413")
    rejections = await _writer(store, GatewayMetrics()).write(LINES[:1], TOPICS[:1])
    assert [(r.line, r.topic) for r in rejections] == [(LINES[0], TOPICS[0])]
    assert "too large" in rejections[0].message


async def test_400_bisection_finds_exactly_the_refused_points_and_keeps_the_rest() -> None:
    store = MemoryStore()
    bad = {LINES[2], LINES[7]}

    def partial_write(lines: list[str]) -> InfluxError | None:
        # InfluxDB 1.x keeps the valid points of a batch and answers 400 naming the others.
        if bad & set(lines):
            store.lines += [line for line in lines if line not in bad]
            return InfluxRejected("partial write: field type conflict dropped=1", status=400)
        return None

    store.fail = partial_write
    rejections = await _writer(store, GatewayMetrics()).write(LINES, TOPICS)
    assert sorted(r.line for r in rejections) == sorted(bad)
    assert {r.topic for r in rejections} == {TOPICS[2], TOPICS[7]}
    assert all("field type conflict" in r.message for r in rejections)
    assert set(store.lines) == set(LINES) - bad
