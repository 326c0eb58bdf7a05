"""BatchWriter on twins: retries, 413 splits, and refusals of every InfluxDB generation settled in few writes."""

from __future__ import annotations

import random

import pytest

from gateway.metrics import GatewayMetrics
from gateway.refusals import Part, settle
from gateway.writer import BatchWriter, PointStore, StoreDown
from smartcity.backoff import Backoff
from smartcity.influx.client import InfluxClient
from smartcity.influx.errors import (
    InfluxError,
    InfluxNotDurable,
    InfluxRejected,
    InfluxTooLarge,
    InfluxUnavailable,
    RefusedLine,
    RejectKind,
)
from smartcity.settings import InfluxSettings
from tests.support.gateway_twins import MemoryStore
from tests.support.influx_twins import Generation, InfluxTwin


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


# -- refusals settled in as few writes as the answer allows (InfluxTwin answers like each generation) -------------
NOW_MS = 1_700_000_000_000
HOUR_MS = 3_600_000


def _readings(count: int, start_ms: int, first: int = 0) -> tuple[list[str], list[str]]:
    """Two points per reading, as the gateway writes them (the reading's measurement and device_vitals)."""
    lines, topics = [], []
    for n in range(first, first + count):
        topic = f"c/v1/dev/d{n % 50}/reading"
        lines += [
            f"air,device=d{n % 50} no2={n % 90}.5,seq={n}i {start_ms + n}",
            f"vitals,device=d{n % 50} battery=88 {start_ms + n}",
        ]
        topics += [topic, topic]
    return lines, topics


def _twin_writer(twin: InfluxTwin) -> tuple[BatchWriter, InfluxClient]:
    client = InfluxClient(InfluxSettings(url="http://influx.test", database="city"), transport=twin.transport())
    return _writer_for(client), client


def _writer_for(store: PointStore) -> BatchWriter:
    return BatchWriter(store, GatewayMetrics(), retry_s=0.0, backoff=lambda: Backoff(0.001, 0.002), sleep=_no_sleep)


@pytest.mark.parametrize(("generation", "writes"), [("1.x", 1), ("2.x", 1), ("3.x", 40)])
async def test_2000_old_readings_are_refused_as_a_batch_not_bisected(generation: Generation, writes: int) -> None:
    # Bisection used to take 2n - 1 = 7,999 writes for these 4,000 points; 3.x names at most 100 refused lines per
    # answer, so it takes n / 100.
    twin = InfluxTwin(generation, cutoff_ms=NOW_MS - HOUR_MS)
    lines, topics = _readings(2000, NOW_MS - 2 * HOUR_MS)
    writer, client = _twin_writer(twin)
    async with client:
        refused = await writer.write(lines, topics)
    assert twin.writes == writes
    assert [(r.line, r.topic) for r in refused] == list(zip(lines, topics, strict=True))
    assert {r.kind for r in refused} == {RejectKind.BEYOND_RETENTION}
    assert twin.stored == []


async def test_old_points_among_recent_ones_are_split_at_the_cut_off_not_bisected() -> None:
    twin = InfluxTwin("1.x", cutoff_ms=NOW_MS - HOUR_MS)
    old_lines, old_topics = _readings(1000, NOW_MS - 2 * HOUR_MS)
    new_lines, new_topics = _readings(1000, NOW_MS, first=1000)
    order = random.Random(7).sample(range(4000), 4000)
    pairs = list(zip(old_lines + new_lines, old_topics + new_topics, strict=True))
    lines, topics = [pairs[i][0] for i in order], [pairs[i][1] for i in order]
    writer, client = _twin_writer(twin)
    async with client:
        refused = await writer.write(lines, topics)
    assert twin.writes == 3  # the batch, then its 2,000 oldest points (all refused), then the rest (all stored)
    assert sorted(r.line for r in refused) == sorted(old_lines)
    assert set(twin.stored) == set(new_lines)


@pytest.mark.parametrize(("generation", "writes"), [("1.x", 1), ("2.x", 2), ("3.x", 1)])
async def test_named_unparsable_lines_are_refused_without_bisection(generation: Generation, writes: int) -> None:
    twin = InfluxTwin(generation)
    lines, topics = _readings(500, NOW_MS)
    bad = {17: "air,device=d17 no2= 1", 400: "vitals,device=d0 battery=x 5", 999: "nonsense"}
    for index, text in bad.items():
        lines[index] = text
    writer, client = _twin_writer(twin)
    async with client:
        refused = await writer.write(lines, topics)
    assert twin.writes == writes  # 2.x stores nothing of a request with an unparsable line: the rest goes again
    assert sorted(r.line for r in refused) == sorted(bad.values())
    assert {r.kind for r in refused} == {RejectKind.PARSE_ERROR}
    assert all(r.message.startswith("unable to parse") or generation == "3.x" for r in refused)
    assert set(twin.stored) == set(lines) - set(bad.values())


@pytest.mark.parametrize("generation", ["1.x", "2.x", "3.x"])
async def test_type_conflicts_and_old_points_mixed_in_one_batch(generation: Generation) -> None:
    # On 1.x and 2.x one reason hides the others; the writer still finds every refused point and stores the rest.
    twin = InfluxTwin(generation, cutoff_ms=NOW_MS - HOUR_MS)
    twin.types[("air", "no2")] = "float"
    lines, topics = _readings(300, NOW_MS)
    conflicts = {5: 'air,device=d5 no2="high" 1700000000005', 250: "air,device=d0 no2=3i 1700000000250"}
    old = {
        100: f"vitals,device=d0 battery=1 {NOW_MS - 2 * HOUR_MS}",
        101: f"vitals,device=d1 battery=1 {NOW_MS - 3 * HOUR_MS}",
    }
    for index, text in (conflicts | old).items():
        lines[index] = text
    writer, client = _twin_writer(twin)
    async with client:
        refused = await writer.write(lines, topics)
    kinds = {r.line: r.kind for r in refused}
    expected = dict.fromkeys(conflicts.values(), RejectKind.FIELD_TYPE_CONFLICT)
    assert kinds == expected | dict.fromkeys(old.values(), RejectKind.BEYOND_RETENTION)
    assert set(twin.stored) == set(lines) - set(kinds)
    # 3.x names them all at once; on 1.x/2.x each answer names one reason, and the guided splits check it
    assert twin.writes == (1 if generation == "3.x" else 7)


async def test_a_2x_422_is_settled_never_retried_or_raised() -> None:
    twin = InfluxTwin("2.x")
    twin.types[("air", "no2")] = "integer"  # the bucket's field has another type: every air point conflicts
    lines, topics = _readings(100, NOW_MS)
    writer, client = _twin_writer(twin)
    async with client:
        refused = await writer.write(lines, topics)
    # The batch; the points carrying the named field with the refused type (all refused); the others (stored).
    # Bisection of these interleaved points took 399 writes.
    assert twin.writes == 3
    assert {r.line for r in refused} == {line for line in lines if line.startswith("air,")}
    assert set(twin.stored) == {line for line in lines if line.startswith("vitals,")}


async def test_a_200_that_is_not_204_is_retried_then_store_down() -> None:
    store = MemoryStore()
    store.fail = lambda _lines: InfluxNotDurable("POST /write answered 200 (text/html), not 204", status=200)
    metrics = GatewayMetrics()
    writer = BatchWriter(store, metrics, retry_s=0.05, backoff=lambda: Backoff(0.001, 0.002))
    with pytest.raises(StoreDown, match="not 204"):
        await writer.write(LINES, TOPICS)
    assert store.calls > 1
    assert metrics.write_retries._value.get() == store.calls - 1


async def test_a_named_line_that_is_not_in_the_batch_falls_back_to_bisection() -> None:
    store = MemoryStore()
    bad = LINES[4]

    def answer(lines: list[str]) -> InfluxError | None:
        if bad not in lines:
            return None
        store.lines += [line for line in lines if line != bad]
        mangled = RefusedLine(text="m,device=d4 v=4 10", reason="cut by a proxy", kind=RejectKind.PARSE_ERROR)
        return InfluxRejected("partial write", status=400, partial=True, refused=(mangled,), complete=True)

    store.fail = answer
    refused = await _writer(store, GatewayMetrics()).write(LINES, TOPICS)
    assert [r.line for r in refused] == [bad]
    assert set(store.lines) == set(LINES) - {bad}


def test_settle_a_3x_list_that_may_be_cut_writes_the_unnamed_lines_again() -> None:
    lines = [f"m v={i} {i}" for i in range(150)]
    named = tuple(RefusedLine(lines[i], "No fields", RejectKind.PARSE_ERROR, number=i + 1) for i in range(100))
    refusal = InfluxRejected("partial write of line protocol occurred", partial=True, refused=named, complete=False)
    settled, again = settle(Part(lines, [""] * 150), refusal)
    assert [r.line for r in settled] == lines[:100]
    assert again == [Part(lines[100:], [""] * 50)]
