"""The quality worker against the real influxd, over roll-ups the real roll-up worker computed from planted
faults: each planted fault becomes a flag on its device (and only there), a condition that ended is closed, and a
restarted worker that judges every hour again writes no second copy of any flag."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from services.quality.metrics import QualityMetrics
from services.quality.settings import QualitySettings
from services.quality.worker import QualityWorker
from smartcity.influx.client import InfluxClient
from smartcity.quality_flags import QUALITY_FLAG, Flag, FlagKind, read_flags
from smartcity.settings import InfluxSettings
from tests.support.quality_city import (
    DRIFT,
    HOUR,
    OFFLINE,
    PLANTED,
    SPIKE,
    STUCK,
    fill_and_judge,
    quality_city,
    quality_start,
)

NOW = int(time.time() * 1000)
START = quality_start(NOW)


@pytest.fixture
async def influx(influx_settings: InfluxSettings) -> AsyncIterator[InfluxClient]:
    await fill_and_judge(influx_settings, START, NOW)
    async with InfluxClient(influx_settings) as client:
        yield client


def _worker(influx: InfluxClient, metrics: QualityMetrics | None = None) -> QualityWorker:
    settings = QualitySettings(start_lookback_h=(NOW - START) // HOUR + 1, max_hours_per_cycle=1_000)
    config = settings.worker_config()
    return QualityWorker(influx, quality_city(), config, metrics or QualityMetrics())


def _by_device(flags: list[Flag]) -> dict[str, set[FlagKind]]:
    out: dict[str, set[FlagKind]] = {}
    for flag in flags:
        out.setdefault(flag.device, set()).add(flag.kind)
    return out


async def _points(influx: InfluxClient) -> int:
    answer = await influx.query(f'SELECT count("start_ms") FROM "{QUALITY_FLAG}"')
    return sum(int(row[1]) for series in answer for row in series.values if isinstance(row[1], int))


async def test_every_planted_fault_is_flagged_on_its_device_and_nowhere_else(influx: InfluxClient) -> None:
    flags = await read_flags(influx)
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
    assert len(drifted.basis) == 3  # its gain, baseline and scale, for a worker that restarts during it
    assert drifted.basis[2] > 0
    assert START + DRIFT[1] * HOUR <= drifted.start_ms <= START + (DRIFT[1] + 8) * HOUR
    (gap,) = [f for f in flags if f.kind is FlagKind.OFFLINE and f.device == OFFLINE[0]]
    assert gap.start_ms == START + OFFLINE[1] * HOUR
    assert gap.end_ms == START + OFFLINE[2] * HOUR


async def test_a_restarted_worker_judging_every_hour_again_writes_no_second_flag(influx: InfluxClient) -> None:
    before = await _points(influx)
    flags = await read_flags(influx)
    metrics = QualityMetrics()
    again = _worker(influx, metrics)
    await again.load()
    assert {flag.key for flag in flags if flag.open} == set(again.book.open if again.book else {})
    again.progress = START - HOUR  # as if its progress had been lost: every hour is judged once more
    for _ in range(20):
        await again.cycle()
        if not again.backlog:
            break
    assert await _points(influx) == before
    assert await read_flags(influx) == flags
    assert before >= len(PLANTED) + 1
    # the radio sensor alone on its network has the wired ones as peers: every series was judged for drift
    assert metrics.registry.get_sample_value("smartcity_quality_peerless_series") == 0
