"""Reconnect backoff, per-device sequence numbers and the publish bookkeeping shared by devices and network server."""

from __future__ import annotations

import itertools
from collections import deque

from devices.clock import SimClock
from devices.faults import Fault, FaultPlan
from devices.link import (
    DeviceCore,
    Outgoing,
    RunContext,
    enqueue,
    record_puback,
    send_fault_copies,
)
from devices.signals import SignalModel
from devices.stats import RunStats
from smartcity.city.model import DeviceType
from smartcity.contract.topics import TopicScheme
from tests.devices_support import small_city

T0 = 1_772_000_000_000


def _core(faults: list[str]) -> DeviceCore:
    city = small_city([DeviceType.AIR_QUALITY])
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
    assert skewed.run.stats.faults["skew"] == skewed.run.stats.faults["drift"] == 1


def test_enqueue_drops_the_oldest_past_the_limit_and_counts_it() -> None:
    stats, buffer = RunStats(), deque[int]()
    for item in range(5):
        enqueue(buffer, item, 3, stats, "dropped_test")
    assert list(buffer) == [2, 3, 4]
    assert stats.counters["dropped_test"] == 2


def test_record_puback_counts_acks_and_refusals_of_publishes_in_flight_only() -> None:
    stats = RunStats()
    inflight: dict[int, Outgoing] = {1: (b"t", b"a", False), 2: (b"t", b"b", False)}
    assert record_puback(inflight, 1, 0x00, stats, "dev-1")
    assert record_puback(inflight, 2, 0x87, stats, "dev-1")
    assert not record_puback(inflight, 2, 0x00, stats, "dev-1")  # already settled
    assert inflight == {}
    assert (stats.counters["acked"], stats.counters["publish_refused"]) == (2, 1)
    assert any("dev-1: broker refused a publish (reason code 0x87)" in error for error in stats.errors)


def test_fault_copies_repeat_the_payload_and_add_a_malformed_one_when_the_plan_hits() -> None:
    faults = FaultPlan.parse(["duplicate=1", "malformed=1"]).for_device(1, "bb-0", 60)
    stats, sent = RunStats(), list[bytes]()
    send_fault_copies(faults, stats, 7, sent.append, b"reading", b"bad")
    assert sent == [b"reading", b"bad"]
    assert (stats.faults[Fault.DUPLICATE], stats.faults[Fault.MALFORMED]) == (1, 1)

    clean = FaultPlan.parse([]).for_device(1, "bb-0", 60)
    send_fault_copies(clean, stats, 7, sent.append, b"reading", b"bad")
    assert sent == [b"reading", b"bad"]
