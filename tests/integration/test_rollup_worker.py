"""The roll-up worker against the real influxd: every roll-up is checked against values computed here from the raw
points the test wrote (uneven sampling, a gap of hours, a meter reset, late data), through a crash mid-window,
a catch-up in bounded steps and a second computation of every window."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from services.rollup.compute import compute_day, compute_hour
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker, WorkerConfig
from smartcity.influx.client import InfluxClient, JsonScalar
from smartcity.influx.errors import InfluxUnavailable
from smartcity.latewindows import late_window_lines
from smartcity.rollups import (
    DAY,
    HOUR,
    LATE_CURSOR,
    MINUTE,
    REWRITTEN,
    LocalDays,
    RollupPolicy,
    Tier,
    read_all_progress,
    source,
)
from smartcity.settings import InfluxSettings
from tests.support.rollup_support import (
    energy_points,
    expected_increases,
    expected_windows,
    hour,
    lines_of,
    minute,
    pm25_points,
    readings,
    rollup_city,
)

TZ = rollup_city().timezone
DAYS = LocalDays(TZ)
DAY_START = DAYS.start_of(int(time.time() * 1000) - 2 * 86_400_000)
"""A whole local day that closed at least a day ago."""
LOOKBACK_H = (int(time.time() * 1000) - DAY_START) // 3_600_000 + 1


@dataclass
class Stack:
    influx: InfluxClient
    tiers: TierClients
    metrics: RollupMetrics

    def worker(self, max_windows: int = 1_000, tiers: object = None, ahead_s: float = 0.0) -> RollupWorker:
        config = WorkerConfig(
            settle_s=120,
            max_windows_per_cycle=max_windows,
            start_lookback_h=LOOKBACK_H,
            raw_days=35,
            register_lookback_s=86_400,
        )
        writer = self.tiers if tiers is None else tiers
        clock = lambda: time.time() + ahead_s  # noqa: E731
        return RollupWorker(self.influx, writer, DAYS, config, self.metrics, clock=clock)  # type: ignore[arg-type]


@pytest.fixture
async def stack(influx_settings: InfluxSettings) -> AsyncIterator[Stack]:
    async with InfluxClient(influx_settings) as influx, TierClients(influx_settings) as tiers:
        await ensure_retention(influx, RollupPolicy(), apply_raw=False)
        await influx.write(lines_of(readings(pm25_points(DAY_START), energy_points(DAY_START))))
        yield Stack(influx, tiers, RollupMetrics())


async def _until_done(worker: RollupWorker) -> list[int]:
    backlogs = []
    for _ in range(200):
        await worker.cycle()
        backlogs.append(worker.backlog)
        if not worker.backlog:
            return backlogs
    raise AssertionError("the worker never caught up")


async def _rows(influx: InfluxClient, tier: Tier, measurement: str, device: str) -> dict[int, dict[str, JsonScalar]]:
    query = f'SELECT * FROM {source(influx.settings.database, tier, measurement)} WHERE "device" = $d'
    return {
        int(str(row["time"])): row for series in await influx.query(query, {"d": device}) for row in series.records()
    }


async def _check_against_raw(influx: InfluxClient, pm25: dict[str, list[tuple[int, float]]]) -> None:
    for tier, window_of in ((MINUTE, minute), (HOUR, hour), (DAY, DAYS.start_of)):
        for device, points in pm25.items():
            got = await _rows(influx, tier, "air_quality", device)
            want = expected_windows(points, window_of)
            assert sorted(got) == sorted(want), (tier.name, device)
            for start, (total, count, low, high) in want.items():
                row = got[start]
                assert (row["pm25_count"], row["pm25_min"], row["pm25_max"]) == (count, low, high)
                assert row["pm25_sum"] == pytest.approx(total)
        energy = energy_points(DAY_START)
        got = await _rows(influx, tier, "energy", "meter-n1")
        increases = expected_increases(energy, window_of)
        assert {t: r["energy_increase"] for t, r in got.items()} == pytest.approx(increases), tier.name
        assert {t: r["energy_count"] for t, r in got.items()} == {
            t: c for t, (_s, c, _lo, _hi) in expected_windows(energy, window_of).items()
        }


async def test_rollups_match_values_computed_from_the_raw_points(stack: Stack) -> None:
    started = time.monotonic()
    await _until_done(stack.worker())
    elapsed = time.monotonic() - started
    await _check_against_raw(stack.influx, pm25_points(DAY_START))
    lag = stack.metrics.registry.get_sample_value("smartcity_rollup_lag_seconds")
    assert lag is not None
    assert lag < 3 * 3600
    assert elapsed < 30


async def test_late_points_are_recomputed_from_the_gateways_marks(stack: Stack) -> None:
    await _until_done(stack.worker())
    assert REWRITTEN not in await read_all_progress(stack.influx)  # nothing redone yet
    pm25 = pm25_points(DAY_START)
    late = [(DAY_START + 2 * 3_600_000 + 5_000, 42.0), (DAY_START + 2 * 3_600_000 + 65_000, 1.25)]
    await stack.influx.write(lines_of(readings({"aq-n1": late}, [])))
    marks = late_window_lines([ts for ts, _v in late], now_ms=int(time.time() * 1000))  # as the gateway does
    await stack.influx.write("\n".join(marks).encode())
    await stack.worker(ahead_s=120).cycle()  # the next cycle, once the marks are older than the late margin
    pm25["aq-n1"] = sorted(pm25["aq-n1"] + late)
    await _check_against_raw(stack.influx, pm25)
    recomputed = stack.metrics.registry.get_sample_value("smartcity_rollup_late_windows_total")
    assert recomputed == 2  # the hour and the one after it (a meter's first difference there depends on it)
    progress = await read_all_progress(stack.influx)
    assert progress[REWRITTEN] >= progress[LATE_CURSOR]  # marked after the redo: answers kept from before are stale


class _CrashAfter:
    """Writes through to the real tiers, then fails like a lost connection (a worker killed mid-window)."""

    def __init__(self, inner: TierClients, writes: int) -> None:
        self.inner, self.left = inner, writes

    async def write_tier(self, tier: Tier, body: list[str]) -> None:
        if self.left == 0:
            raise InfluxUnavailable("injected: connection lost mid-window")
        self.left -= 1
        await self.inner.write_tier(tier, body)


async def test_a_crash_mid_window_then_a_bounded_catch_up_gives_the_same_rollups(stack: Stack) -> None:
    crashing = stack.worker(max_windows=1_000, tiers=_CrashAfter(stack.tiers, writes=1))
    with pytest.raises(InfluxUnavailable):
        await _until_done(crashing)  # minute points of the first hour with data written, its hour never
    restarted = stack.worker(max_windows=12)  # a new process: progress read back from InfluxDB
    backlogs = await _until_done(restarted)
    assert len(backlogs) >= 4
    assert backlogs == sorted(backlogs, reverse=True)
    await _check_against_raw(stack.influx, pm25_points(DAY_START))


async def test_computing_every_window_twice_gives_the_same_points(stack: Stack) -> None:
    await _until_done(stack.worker())

    async def snapshot() -> dict[str, object]:
        found: dict[str, object] = {}
        for tier in (MINUTE, HOUR, DAY):
            for measurement in ("air_quality", "energy"):
                for device in ("aq-n1", "aq-n2", "meter-n1"):
                    found[f"{tier.name}/{measurement}/{device}"] = await _rows(stack.influx, tier, measurement, device)
        return found

    before = await snapshot()
    start, end = DAYS.day_of(DAY_START)
    for hour_ms in range(start, end, 3_600_000):
        await compute_hour(stack.influx, stack.tiers, hour_ms, register_lookback_ms=86_400_000)
    await compute_day(stack.influx, stack.tiers, stack.influx.settings.database, start, end)
    assert await snapshot() == before
