"""The quality worker against the real influxd, over roll-ups the real roll-up worker computed from planted
faults: each planted fault becomes a flag on its device (and only there), a condition that ended is closed, and a
restarted worker that judges every hour again writes no second copy of any flag."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from services.quality.metrics import QualityMetrics
from services.quality.settings import QualitySettings
from services.quality.worker import QualityWorker, WorkerConfig
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker
from services.rollup.worker import WorkerConfig as RollupConfig
from smartcity.city.directory import DeviceDirectory
from smartcity.influx.client import InfluxClient
from smartcity.influx.schema import device_health_point
from smartcity.quality_flags import QUALITY_FLAG, Flag, FlagKind, read_flags
from smartcity.rollups import LocalDays, RollupPolicy
from smartcity.settings import InfluxSettings
from tests.support.quality_city import (
    DRIFT,
    HOUR,
    HOURS,
    OFFLINE,
    PLANTED,
    SPIKE,
    STUCK,
    quality_city,
    quality_lines,
    quality_readings,
)

NOW = int(time.time() * 1000)
START = (NOW // HOUR - HOURS + 2) * HOUR
"""The readings run until two hours from now: every hour the roll-ups close holds data."""
LOOKBACK_H = (NOW - START) // HOUR + 1


@dataclass
class Stack:
    influx: InfluxClient

    def worker(self) -> QualityWorker:
        settings = QualitySettings(start_lookback_h=LOOKBACK_H)
        config = WorkerConfig(
            rules=settings.rules(),
            lookback_h=settings.lookback_h,
            start_lookback_h=settings.start_lookback_h,
            max_hours_per_cycle=1_000,
            warmup_h=settings.warmup_h,
            flag_memory_days=settings.flag_memory_days,
        )
        return QualityWorker(self.influx, quality_city(), config, QualityMetrics())


@pytest.fixture
async def stack(influx_settings: InfluxSettings) -> AsyncIterator[Stack]:
    city = quality_city()
    async with InfluxClient(influx_settings) as influx, TierClients(influx_settings) as tiers:
        await ensure_retention(influx, RollupPolicy(), apply_raw=False)
        await influx.write(quality_lines(quality_readings(START)))
        skewed = DeviceDirectory.from_city(city).get("aq-5")
        assert skewed is not None
        fields = {"online": True, "last_seen_ms": NOW, "clock_offset_ms": 120_000, "clock_at_ms": NOW}
        await influx.write(device_health_point(skewed, replica="gw-1", fields=fields, ts_ms=NOW).encode())
        config = RollupConfig(
            settle_s=120,
            max_windows_per_cycle=1_000,
            start_lookback_h=LOOKBACK_H,
            raw_days=35,
            register_lookback_s=86_400,
        )
        rollup = RollupWorker(influx, tiers, LocalDays(city.timezone), config, RollupMetrics())
        for _ in range(20):
            await rollup.cycle()
            if not rollup.backlog:
                break
        yield Stack(influx)


async def _judge(worker: QualityWorker) -> None:
    for _ in range(20):
        await worker.cycle()
        if not worker.backlog:
            return
    raise AssertionError("the quality worker never caught up")


def _by_device(flags: list[Flag]) -> dict[str, set[FlagKind]]:
    out: dict[str, set[FlagKind]] = {}
    for flag in flags:
        out.setdefault(flag.device, set()).add(flag.kind)
    return out


async def _points(influx: InfluxClient) -> int:
    answer = await influx.query(f'SELECT count("start_ms") FROM "{QUALITY_FLAG}"')
    return sum(int(row[1]) for series in answer for row in series.values if isinstance(row[1], int))


async def test_every_planted_fault_is_flagged_on_its_device_and_nowhere_else(stack: Stack) -> None:
    worker = stack.worker()
    await _judge(worker)
    flags = await read_flags(stack.influx)
    kinds = _by_device(flags)
    for device, fault in PLANTED.items():
        assert FlagKind(fault.value) in kinds.get(device, set()), (device, fault, kinds)
    assert kinds.get("aq-5") == {FlagKind.SKEW}
    value_flags = {(f.device, f.kind) for f in flags if f.kind.distrusts_values}
    assert value_flags == {("aq-1", FlagKind.STUCK), ("aq-2", FlagKind.SPIKE), ("aq-3", FlagKind.DRIFT)}

    (stuck,) = [f for f in flags if f.kind is FlagKind.STUCK]
    assert (stuck.start_ms, stuck.end_ms, stuck.metric) == (START + STUCK[1] * HOUR, START + STUCK[2] * HOUR, "pm25")
    (spike,) = [f for f in flags if f.kind is FlagKind.SPIKE]
    assert spike.start_ms == START + SPIKE[1] * HOUR + 5 * 300_000
    (drifted,) = [f for f in flags if f.kind is FlagKind.DRIFT]
    assert drifted.open
    assert START + DRIFT[1] * HOUR <= drifted.start_ms <= START + (DRIFT[1] + 8) * HOUR
    (gap,) = [f for f in flags if f.kind is FlagKind.OFFLINE and f.device == OFFLINE[0]]
    assert gap.start_ms == START + OFFLINE[1] * HOUR
    assert gap.end_ms == START + OFFLINE[2] * HOUR


async def test_a_restarted_worker_judging_every_hour_again_writes_no_second_flag(stack: Stack) -> None:
    await _judge(stack.worker())
    before = await _points(stack.influx)
    flags = await read_flags(stack.influx)
    again = stack.worker()
    await again.load()
    again.progress = START - HOUR  # as if its progress had been lost: every hour is judged once more
    await _judge(again)
    assert await _points(stack.influx) == before
    assert await read_flags(stack.influx) == flags
    assert before >= len(PLANTED) + 1
