"""Fault episodes in simulated time: seeded onsets, what each kind does to readings, and the truth it leaves."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import pytest

from devices.clock import SimClock
from devices.device_core import DeviceCore, RunContext
from devices.episodes import DAY_MS, PRESETS, SHAPES, SKEW_MAX_MS, SKEW_MIN_MS, EpisodePlan, EpisodeSpecError
from devices.faults import NO_FAULTS
from devices.signals import SignalModel
from devices.stats import RunStats
from gateway.settings import LimitSettings
from smartcity.city.model import DeviceType, RadioProfile
from smartcity.contract.metrics import METRICS
from smartcity.contract.reading import Reading
from smartcity.contract.topics import TopicScheme
from smartcity.quality_truth import FaultKind, TruthRecord, merge, ms_to_datetime
from tests.support.devices import simulator_city

START = 1_744_588_800_000  # 2025-04-14T00:00:00Z, the live start; the back-fill covers the week before
WEEK_MS = 7 * DAY_MS


@dataclass
class _ListSink:
    records: list[TruthRecord]

    def write(self, record: TruthRecord) -> None:
        self.records.append(record)


def _run(
    rates: dict[FaultKind, float],
    *,
    types: list[DeviceType] | None = None,
    narrowband: list[tuple[DeviceType, RadioProfile]] | None = None,
    backfill_speed: float = 3600.0,
    seed: int = 4,
) -> tuple[dict[str, list[Reading]], list[TruthRecord], dict[str, DeviceCore]]:
    """One simulated week of back-fill (the whole of it due at once): readings per device and the truth lines."""
    city = simulator_city(
        types if types is not None else [DeviceType.AIR_QUALITY] * 6, narrowband, report_interval_s=600
    )
    clock = SimClock(START, backfill_s=WEEK_MS / 1000, backfill_speed=backfill_speed, _wall0=0.0)
    truth: list[TruthRecord] = []
    sink = _ListSink(truth)
    run = RunContext(
        TopicScheme("t"), clock, SignalModel(city, seed), RunStats(), episodes=EpisodePlan(rates), truth=sink
    )
    cores = {d.id: DeviceCore(run.model.context(d), run, NO_FAULTS.for_device(seed, d.id, None)) for d in city.devices}
    end_wall = clock.backfill_wall_s
    readings: dict[str, list[Reading]] = {}
    for device_id, core in cores.items():
        readings[device_id] = core.due_readings(end_wall, limit=10_000)
    return readings, truth, cores


@pytest.mark.parametrize(
    ("preset", "specs", "message"),
    [
        ("wild", [], "unknown --faults preset 'wild'"),
        (None, ["melt=0.1"], "unknown fault kind 'melt'"),
        (None, ["stuck"], "needs a rate per device-day"),
        (None, ["stuck=often"], "is not a number"),
        (None, ["drift=0.5"], "from 0 to 0.142857 per device-day"),
        (None, ["spike=0.1", "spike=0.2"], "given twice"),
    ],
)
def test_bad_episode_specs_are_refused_with_a_reason(preset: str | None, specs: list[str], message: str) -> None:
    with pytest.raises(EpisodeSpecError, match=message):
        EpisodePlan.parse(preset, specs)


def test_a_rate_overrides_the_preset() -> None:
    plan = EpisodePlan.parse("realistic", ["spike=0.2", "battery=0"])
    assert plan.rates[FaultKind.SPIKE] == 0.2
    assert FaultKind.BATTERY not in plan.rates
    assert plan.rates[FaultKind.STUCK] == PRESETS["realistic"][FaultKind.STUCK]


def test_onsets_and_durations_come_from_the_seed_and_follow_the_rates() -> None:
    plan = EpisodePlan({kind: 0.9 / SHAPES[kind].slot_days for kind in FaultKind})
    for kind in FaultKind:
        found = [plan.episodes(3, f"d-{i}", kind, START, START + 70 * DAY_MS) for i in range(60)]
        assert found == [plan.episodes(3, f"d-{i}", kind, START, START + 70 * DAY_MS) for i in range(60)]
        assert found != [plan.episodes(4, f"d-{i}", kind, START, START + 70 * DAY_MS) for i in range(60)]
        onsets = sorted(episode.start_ms % DAY_MS for device in found for episode in device)
        assert len(set(onsets)) > 0.9 * len(onsets)  # random times of day, not one fixed reading
        shape = SHAPES[kind]
        for device in found:
            assert all(shape.min_s * 1000 <= e.end_ms - e.start_ms <= shape.max_s * 1000 + 1 for e in device)
            assert all(a.end_ms < b.start_ms for a, b in itertools.pairwise(device))  # never overlapping
        per_day = sum(len(device) for device in found) / (60 * 70)
        assert 0.5 * plan.rates[kind] < per_day < 1.1 * plan.rates[kind]


def test_stuck_repeats_one_value_for_the_episode_and_the_truth_says_when() -> None:
    readings, truth, _ = _run({FaultKind.STUCK: 0.3})
    records = merge(truth)
    assert records
    assert {r.kind for r in records} == {FaultKind.STUCK}
    for record in records:
        inside = [r.values["no2"] for r in readings[record.device] if record.contains(_at(r.ts_ms))]
        assert len(inside) >= 30  # 6 h at 600 s at least
        assert set(inside) == {record.detail["value"]}
        assert record.metric == "no2"
    lines_per_fault = {r.key: sum(1 for line in truth if line.key == r.key) for r in records}
    assert set(lines_per_fault.values()) <= {1, 2}  # begun, then ended (or still on at the end of the week)


def test_in_range_spikes_are_far_from_the_signal_and_stay_in_range() -> None:
    types = [DeviceType.AIR_QUALITY, DeviceType.NOISE, DeviceType.WEATHER, DeviceType.WASTE_BIN] * 3
    readings, truth, _ = _run({FaultKind.SPIKE: 0.5}, types=types)
    spikes = merge(truth)
    assert len(spikes) > 20
    for record in spikes:
        assert record.start == record.end
        assert record.metric is not None
        spec = METRICS[record.metric]
        assert spec.minimum is not None
        assert spec.maximum is not None
        value, expected = record.detail["value"], record.detail["expected"]
        assert spec.minimum <= value <= spec.maximum
        assert abs(value - expected) >= 3 * max(1.0, 0.25 * abs(expected))
        sent = [r for r in readings[record.device] if r.ts_ms == record.start_ms]
        assert [r.values[record.metric] for r in sent] == [value]


def test_skew_stays_inside_the_gateways_future_window() -> None:
    types = [DeviceType.NOISE] * 20
    plain, _, _ = _run({}, types=types)
    readings, truth, _ = _run({FaultKind.SKEW: 0.2}, types=types)
    records = merge(truth)
    assert records
    window_ms = LimitSettings().max_future_s * 1000
    assert window_ms - 60_000 >= SKEW_MAX_MS
    for device, sent in readings.items():
        skews = [r for r in records if r.device == device]
        for true, skewed in zip(plain[device], sent, strict=True):
            on = [r.detail["offset_ms"] for r in skews if r.contains(_at(true.ts_ms))]
            assert skewed.ts_ms - true.ts_ms == sum(on)
    for record in records:
        assert SKEW_MIN_MS <= abs(record.detail["offset_ms"]) <= SKEW_MAX_MS


def test_drift_grows_with_simulated_time() -> None:
    plain, _, _ = _run({})
    drifted, truth, _ = _run({FaultKind.DRIFT: 1 / 7})
    records = [r for r in merge(truth) if r.kind is FaultKind.DRIFT]
    assert records
    for record in records:
        pairs = [
            (b.ts_ms, float(b.values["no2"]) - float(a.values["no2"]), float(b.values["no2"]))
            for a, b in zip(plain[record.device], drifted[record.device], strict=True)
            if record.contains(_at(b.ts_ms))
        ]
        per_day = record.detail["per_day"]
        unclamped = [(t, d) for t, d, value in pairs if value > 0]
        t_last, d_last = unclamped[-1]
        assert d_last == pytest.approx(per_day * (t_last - record.start_ms) / DAY_MS, abs=0.02 + abs(per_day) * 0.01)


def test_offline_loses_readings_and_the_sequence_jumps() -> None:
    readings, truth, _ = _run({FaultKind.OFFLINE: 0.5})
    records = merge(truth)
    assert records
    for record in records:
        sent = readings[record.device]
        assert not [r for r in sent if record.contains(_at(r.ts_ms))]
        jumps = [
            (b.seq or 0) - (a.seq or 0) for a, b in itertools.pairwise(sent) if a.ts_ms < record.start_ms < b.ts_ms
        ]
        if record.end is not None:
            assert jumps
            assert jumps[0] > 1


@pytest.mark.parametrize("backfill_speed", [3600.0, 360_000.0])
def test_episodes_last_in_simulated_time_whatever_the_backfill_speed(backfill_speed: float) -> None:
    rates = {kind: 0.9 / SHAPES[kind].slot_days for kind in FaultKind}
    _, reference, _ = _run(rates, backfill_speed=1.0)
    _, truth, _ = _run(rates, backfill_speed=backfill_speed)
    assert merge(truth) == merge(reference)
    assert any(r.end is not None and r.end_ms is not None and r.end_ms - r.start_ms > 3_600_000 for r in merge(truth))


def test_battery_drains_to_zero_then_the_device_dies_for_good() -> None:
    narrowband = [(DeviceType.FLOOD_LEVEL, RadioProfile.LORAWAN_SF7)] * 12
    readings, truth, cores = _run({FaultKind.BATTERY: 1 / 7}, types=[DeviceType.NOISE], narrowband=narrowband)
    records = merge(truth)
    assert "bb-0" not in {r.device for r in records}  # mains powered
    deaths = [r for r in records if r.kind is FaultKind.OFFLINE]
    assert deaths
    assert all(r.detail == {"cause": "battery"} and r.end is None for r in deaths)
    for death in deaths:
        sent = readings[death.device]
        drain = next(r for r in records if r.kind is FaultKind.BATTERY and r.device == death.device)
        levels = [float(r.values["battery"]) for r in sent if r.ts_ms >= drain.start_ms]
        assert levels == sorted(levels, reverse=True)
        assert levels[-1] < 0.2 * float(drain.detail["level"])
        assert all(r.ts_ms < death.start_ms for r in sent)
        assert cores[death.device].dead


def _at(ms: int) -> datetime:
    return ms_to_datetime(ms)
