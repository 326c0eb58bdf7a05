import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from prometheus_client import generate_latest

from gateway.errors import SpoolError
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Pipeline
from gateway.spool import Spool
from gateway.writer import BatchWriter
from smartcity.backoff import Backoff
from smartcity.influx.errors import InfluxError, InfluxRejected, InfluxUnavailable
from smartcity.latewindows import HOUR_MS
from tests.support.contract import topic
from tests.support.gateway_harness import Parts, build, reading
from tests.support.gateway_twins import MemoryStore


async def _up() -> bool:
    return True


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


class FlakySpool(Spool):
    """The real spool, made to refuse the next ``failures`` appends as a full disk would."""

    failures = 0

    async def append(self, lines: list[str], topics: list[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise SpoolError("database or disk is full")
        await super().append(lines, topics)


@asynccontextmanager
async def running(
    tmp_path: Path, store: MemoryStore, *, max_inflight: int = 2, batch_size: int = 2, spool_failures: int = 0
) -> AsyncIterator[tuple[Parts, Pipeline]]:
    holder: list[Pipeline] = []
    parts = build(batch_size=batch_size, batch_ms=10, on_sealed=lambda batch: holder[0].submit(batch))
    async with FlakySpool(tmp_path) as opened:
        spool = cast(FlakySpool, opened)
        spool.failures = spool_failures

        def writer(retry_s: float) -> BatchWriter:
            return BatchWriter(
                store, parts.metrics, retry_s=retry_s, backoff=lambda: Backoff(0.001, 0.002), sleep=_no_sleep
            )

        pipeline = Pipeline(
            writer=writer(0.0),
            replay_writer=writer(0.0),
            spool=spool,
            ledger=parts.ledger,
            dead_letters=parts.dead_letters,
            health=parts.health,
            metrics=parts.metrics,
            flow=parts.broker,
            max_inflight=max_inflight,
            health_interval_s=3600,
            ping=_up,
        )
        holder.append(pipeline)
        task = asyncio.create_task(pipeline.run())
        try:
            yield parts, pipeline
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"condition not met within {within_s} s")


def _send(parts: Parts, count: int, first_mid: int = 1, device: str = "aq-1") -> None:
    for index in range(count):
        parts.intake.on_message(topic(device), reading(device, first_mid + index), 1, first_mid + index)


async def test_points_written_then_acked(tmp_path: Path) -> None:
    store = MemoryStore()
    async with running(tmp_path, store) as (parts, pipeline):
        _send(parts, 5)
        await _until(lambda: len(parts.broker.acked) == 5)
        await pipeline.drain()
        assert parts.broker.acked == [1, 2, 3, 4, 5]
        assert len(store.lines) == 5
        assert parts.metrics.points_written._value.get() == 5
        assert parts.metrics.end_to_end_lag_seconds.count == 5


async def test_store_down_spools_acks_and_replays_in_order_once_back(tmp_path: Path) -> None:
    store = MemoryStore()
    down = True
    store.fail = lambda _lines: InfluxUnavailable("connection refused") if down else None
    async with running(tmp_path, store) as (parts, pipeline):
        _send(parts, 6)
        await _until(lambda: len(parts.broker.acked) == 6)  # acked because spooled, not because written
        assert store.lines == []
        assert parts.metrics.spooled_points._value.get() == 6
        assert parts.metrics.spool_depth._value.get() == 6
        assert not pipeline.store_up
        down = False
        await _until(lambda: parts.metrics.spool_depth._value.get() == 0)
        assert [line.split(",seq=")[1].split("i")[0] for line in store.lines] == ["1", "2", "3", "4", "5", "6"]
        assert pipeline.store_up
        _send(parts, 2, first_mid=7)  # live traffic goes to InfluxDB again
        await _until(lambda: len(store.lines) == 8)


async def test_a_rejected_message_is_acked_once_its_stored_dead_letter_is_durable(tmp_path: Path) -> None:
    store = MemoryStore()
    async with running(tmp_path, store) as (parts, _pipeline):
        parts.broker.hold = True  # the live copy is never acknowledged by the broker: nothing waits for it
        parts.intake.on_message(topic("aq-1"), b"{broken", 1, 1)
        _send(parts, 1, first_mid=2)
        await _until(lambda: parts.broker.acked == [1, 2])
        assert [line for line in store.lines if line.startswith("dead_letters,")] != []


async def test_points_refused_by_influxdb_are_dead_lettered_and_the_rest_kept(tmp_path: Path) -> None:
    store = MemoryStore()

    def refused(line: str) -> bool:
        return line.startswith("air_quality,") and ",seq=2i " in line

    def refuse_seq_2(lines: list[str]) -> InfluxError | None:
        if any(refused(line) for line in lines):
            store.lines += [line for line in lines if not refused(line)]
            return InfluxRejected("partial write: field type conflict dropped=1", status=400)
        return None

    store.fail = refuse_seq_2
    async with running(tmp_path, store, batch_size=4) as (parts, _pipeline):
        _send(parts, 4)
        await _until(lambda: len(parts.broker.acked) == 4)
        readings = {line for line in store.lines if not line.startswith("dead_letters,")}
        assert len(readings) == 3
        (stored,) = [line for line in store.lines if line.startswith("dead_letters,")]
        assert "reason=store-rejected" in stored
        (dead,) = [json.loads(payload) for _topic, payload in parts.broker.published]
        assert dead["reason"] == "store-rejected"
        assert "field type conflict" in dead["detail"]
        assert ",seq=2i " in dead["payload"]
        assert dead["device_id"] == "aq-1"
        assert parts.metrics.rejected.labels("store-rejected")._value.get() == 1


async def test_late_points_carry_their_hour_marks_in_the_same_write_and_again_on_replay(tmp_path: Path) -> None:
    store = MemoryStore()
    bodies: list[list[str]] = []
    down = True

    def record(lines: list[str]) -> InfluxError | None:
        if down:
            return InfluxUnavailable("connection refused")
        bodies.append(lines)
        return None

    store.fail = record
    now_ms = int(time.time() * 1000)
    two_hours_ago = (now_ms - 2 * HOUR_MS) // HOUR_MS * HOUR_MS
    async with running(tmp_path, store, batch_size=3) as (parts, pipeline):
        parts.intake.on_message(topic("aq-1"), reading("aq-1", 1, two_hours_ago + 10), 1, 1)
        parts.intake.on_message(topic("aq-1"), reading("aq-1", 2, two_hours_ago + 20), 1, 2)
        parts.intake.on_message(topic("aq-1"), reading("aq-1", 3), 1, 3)  # now: not late
        await _until(lambda: len(parts.broker.acked) == 3)  # spooled with its mark
        down = False
        await _until(lambda: parts.metrics.spool_depth._value.get() == 0)
        _send(parts, 3, first_mid=4)  # live, none late: no mark
        await _until(lambda: len(parts.broker.acked) == 6)
        await pipeline.drain()
    replayed, remarked, live = bodies
    marks = [line for line in replayed if line.startswith("late_windows,")]
    assert len(marks) == 1  # spooled in the batch's own body
    assert f"hour={two_hours_ago} points=2i " in marks[0]
    assert len([line for line in replayed if line.startswith("air_quality,")]) == 3
    (again,) = remarked  # the replay marks the same hour anew, at its own time; the old mark is not counted
    assert f"hour={two_hours_ago} points=2i " in again
    assert int(again.rsplit(" ", 1)[1]) >= int(marks[0].rsplit(" ", 1)[1])
    assert not [line for line in live if line.startswith("late_windows,")]


async def test_slow_store_pauses_the_broker_and_resumes_when_caught_up(tmp_path: Path) -> None:
    store = MemoryStore()
    gate = asyncio.Event()
    original = store.write

    async def slow_write(body: bytes) -> None:
        await gate.wait()
        await original(body)

    store.write = slow_write  # type: ignore[method-assign]
    async with running(tmp_path, store, max_inflight=2, batch_size=1) as (parts, pipeline):
        _send(parts, 6)  # 2 batches being written, 4 waiting: over the bound
        assert parts.broker.paused
        assert parts.broker.acked == []
        gate.set()
        await _until(lambda: len(parts.broker.acked) == 6)
        await pipeline.drain()
        assert not parts.broker.paused
        assert parts.broker.pauses == 1


def test_the_lag_histogram_exports_cumulative_buckets() -> None:
    metrics = GatewayMetrics()
    metrics.end_to_end_lag_seconds.observe_many([0.005, 0.02, 0.02, 7200.0])
    text = generate_latest(metrics.registry).decode()
    assert 'smartcity_gateway_end_to_end_lag_seconds_bucket{le="0.01"} 1.0' in text
    assert 'smartcity_gateway_end_to_end_lag_seconds_bucket{le="0.025"} 3.0' in text
    assert 'smartcity_gateway_end_to_end_lag_seconds_bucket{le="3600.0"} 3.0' in text
    assert 'smartcity_gateway_end_to_end_lag_seconds_bucket{le="+Inf"} 4.0' in text
    assert "smartcity_gateway_end_to_end_lag_seconds_count 4.0" in text


async def test_device_health_is_written_for_changed_devices(tmp_path: Path) -> None:
    store = MemoryStore()
    async with running(tmp_path, store) as (parts, pipeline):
        _send(parts, 2, first_mid=1)
        _send(parts, 1, first_mid=5)  # seq 5 after seq 2: seqs 3 and 4 are missing
        await _until(lambda: len(parts.broker.acked) == 3)
        await pipeline.write_health()
        (line,) = [line for line in store.lines if line.startswith("device_health,")]
        assert line.startswith("device_health,device=aq-1,device_type=air_quality,district=d1,")
        assert "last_seq=5i,gaps=2i,duplicates=0i" in line
        assert parts.metrics.gaps._value.get() == 2


async def test_a_batch_neither_store_nor_spool_takes_is_never_acked_until_one_does(tmp_path: Path) -> None:
    store = MemoryStore()
    down = True
    store.fail = lambda _lines: InfluxUnavailable("connection refused") if down else None
    async with running(tmp_path, store, spool_failures=10**6) as (parts, pipeline):
        _send(parts, 2)
        await asyncio.sleep(0.3)
        assert parts.broker.acked == []  # not durable anywhere: nothing acknowledged, nothing crashed
        down = False
        await _until(lambda: parts.broker.acked == [1, 2], within_s=15)
        assert len(store.lines) == 2
        assert pipeline.store_up


async def test_replay_keeps_a_refused_point_spooled_until_its_dead_letter_is(tmp_path: Path) -> None:
    store = MemoryStore()
    down = True

    def answer(lines: list[str]) -> InfluxError | None:
        if down:
            return InfluxUnavailable("connection refused")
        if any(line.startswith("air_quality,") and ",seq=2i " in line for line in lines):
            store.lines += [line for line in lines if ",seq=2i " not in line]
            return InfluxRejected("partial write: field type conflict dropped=1", status=400)
        return None

    store.fail = answer
    async with running(tmp_path, store) as (parts, pipeline):
        _send(parts, 2)
        await _until(lambda: parts.broker.acked == [1, 2])  # spooled
        spool = pipeline._spool
        assert isinstance(spool, FlakySpool)
        spool.failures = 3  # the dead letter of the refused point cannot be spooled at first
        down = False
        await _until(lambda: spool.failures == 0, within_s=15)
        await _until(lambda: spool.depth == 0, within_s=15)
        stored = [line for line in store.lines if line.startswith("dead_letters,")]
        assert len(stored) == 1
        assert "reason=store-rejected" in stored[0]
        assert sum(line.startswith("air_quality,") for line in store.lines) >= 1
