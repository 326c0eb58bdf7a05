"""A device's reading pipeline: sequence numbers on schedule, and the faults that shape its clock and values."""

from __future__ import annotations

import itertools

from devices.clock import SimClock
from devices.device_core import DeviceCore, RunContext
from devices.faults import Fault, FaultPlan
from devices.signals import SignalModel
from devices.stats import RunStats
from smartcity.city.model import DeviceType
from smartcity.contract.topics import TopicScheme
from tests.support.devices import simulator_city

T0 = 1_772_000_000_000


def _core(faults: list[str]) -> DeviceCore:
    city = simulator_city([DeviceType.AIR_QUALITY])
    run = RunContext(TopicScheme("t"), SimClock(T0, _wall0=0.0), SignalModel(city, 1), RunStats())
    device = city.devices[0]
    return DeviceCore(run.model.context(device), run, FaultPlan.parse(faults).for_device(1, device.id, 60))


def test_readings_take_consecutive_sequence_numbers_on_schedule() -> None:
    core = _core([])
    readings = core.due_readings(now_wall=600.0, limit=100)  # ten minutes of a 60 s device
    assert [r.seq for r in readings] == list(range(len(readings)))
    assert 9 <= len(readings) <= 11
    assert {b.ts_ms - a.ts_ms for a, b in itertools.pairwise(readings)} == {60_000}
    assert core.run.stats.ledger[core.device_id].sent == len(readings)


def test_skew_moves_the_device_clock_and_drift_moves_the_value() -> None:
    plain, skewed = _core([]), _core(["skew=1", "drift=1"])
    a, b = plain.make_reading(T0 + 86_400_000), skewed.make_reading(T0 + 86_400_000)
    assert b.ts_ms - a.ts_ms == skewed.faults.skew_ms != 0
    assert b.values["no2"] != a.values["no2"]
    assert skewed.run.stats.faults[Fault.SKEW] == skewed.run.stats.faults[Fault.DRIFT] == 1
