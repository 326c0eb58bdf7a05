"""Faults through the whole path: the simulator back-fills three days of a small city with fault episodes of every
kind through the real broker into a real ``smartcity gateway``; the real roll-up worker and quality worker run
(their clocks two hours after the history's end); the flags appear in ``/v1/quality`` on the devices the
ground-truth log names, and a fault that ended has a flag that cleared (an ``end``). The history ends at a fixed
instant, so it holds the same faults whenever the test runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from devices.episodes import SHAPES, EpisodePlan
from devices.run_options import RunOptions
from services.api.keys import Role
from services.quality.metrics import QualityMetrics
from services.quality.settings import QualitySettings
from services.quality.worker import QualityWorker
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker
from services.rollup.worker import WorkerConfig as RollupConfig
from smartcity.city.load import dump_city
from smartcity.city.model import City, DeviceType, RadioProfile
from smartcity.influx.client import InfluxClient
from smartcity.quality_truth import FaultKind, TruthRecord, read_truth
from smartcity.rollups import HOUR_MS, LocalDays
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.api_support import api_settings, auth, create_key, running
from tests.support.devices import simulator_city
from tests.support.faulty_city import HISTORY_END_MS, HISTORY_RETENTION, SETTLED_MS, run_faulty_city

DAYS = 3
END_MS = HISTORY_END_MS
NOW_MS = END_MS + SETTLED_MS
DETECTED = tuple(FaultKind)
"""Every kind shows in a back-filled history (skew through the readings' cadence: back-filled readings never raise
the gateways' live clock offset)."""


async def _judge(city: City, influx_settings: InfluxSettings, lookback_h: int) -> None:
    async with InfluxClient(influx_settings) as influx, TierClients(influx_settings) as tiers:
        await ensure_retention(influx, HISTORY_RETENTION, apply_raw=False)
        config = RollupConfig(120, 1_000, lookback_h, HISTORY_RETENTION.raw_days, 86_400)
        rollup = RollupWorker(
            influx, tiers, LocalDays(city.timezone), config, RollupMetrics(), clock=lambda: NOW_MS / 1000
        )
        for _ in range(20):
            await rollup.cycle()
            if not rollup.backlog:
                break
        judging = QualitySettings(start_lookback_h=lookback_h, max_hours_per_cycle=1_000).worker_config()
        worker = QualityWorker(influx, city, judging, QualityMetrics(), clock=lambda: NOW_MS / 1000)
        for _ in range(20):
            await worker.cycle()
            if not worker.backlog:
                return
    raise AssertionError("the quality worker never caught up")


def _matches(record: TruthRecord, flag: dict[str, Any], end_ms: int) -> bool:
    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text).timestamp() * 1000)

    start = ms(flag["start"])
    stop = ms(flag["end"]) if flag["end"] else end_ms
    slack = 900_000
    record_end = record.end_ms if record.end_ms is not None else end_ms
    return (
        flag["device"] == record.device
        and flag["kind"] == record.kind.value
        and start - slack < max(record_end, record.start_ms + 1)
        and record.start_ms < stop + slack
    )


async def test_injected_faults_are_flagged_in_the_api_and_cleared_when_they_end(
    mqtt_settings: MqttSettings, influx_settings: InfluxSettings, tmp_path: Path
) -> None:
    city = simulator_city(
        [DeviceType.AIR_QUALITY, DeviceType.INDOOR_CLIMATE, DeviceType.WEATHER] * 5,
        [(DeviceType.AIR_QUALITY, RadioProfile.LORAWAN_SF7)] * 6,
        report_interval_s=600,
    )
    end = END_MS
    truth_path = tmp_path / "truth.jsonl"
    options = RunOptions(
        seed=11,
        start_ms=end,
        backfill_s=DAYS * 86_400,
        backfill_rate=4_000,
        episodes=EpisodePlan({kind: 0.9 / SHAPES[kind].slot_days for kind in FaultKind}),
        truth_path=truth_path,
    )
    run = await run_faulty_city(city, options, mqtt=mqtt_settings, influx=influx_settings, workdir=tmp_path / "run")
    assert run.rejected == {}
    records = read_truth(truth_path)
    assert {record.kind for record in records} >= set(DETECTED)
    await _judge(city, influx_settings, DAYS * 24 + 2)

    city_file = tmp_path / "faulty-city.json"
    city_file.write_bytes(dump_city(city))
    settings = api_settings(tmp_path, influx_settings, city_file=city_file)
    with running(settings) as client:
        headers = auth(create_key(settings, Role.PLANNER))
        params = {"start": str((end - DAYS * 86_400_000 - HOUR_MS) / 1000), "end": str(end / 1000), "limit": "1000"}
        answer = client.get("/v1/quality", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        flags = answer.json()["items"]
    rolled_to = end - 2 * HOUR_MS  # a fault of the last two hours may not show yet
    found = {
        kind: [
            r for r in records if r.kind is kind and r.start_ms < rolled_to and any(_matches(r, f, end) for f in flags)
        ]
        for kind in DETECTED
    }
    assert all(found[kind] for kind in DETECTED), {kind.value: len(hits) for kind, hits in found.items()}
    cleared = [
        r
        for kind in (FaultKind.STUCK, FaultKind.OFFLINE)
        for r in found[kind]
        if r.end_ms is not None and any(_matches(r, f, end) and f["end"] for f in flags)
    ]
    assert cleared, "a fault that ended has a flag that cleared"
