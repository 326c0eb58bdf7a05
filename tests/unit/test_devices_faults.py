"""Fault specs: clear errors for bad ones, deterministic choice of devices and messages."""

from __future__ import annotations

import pytest

from devices.faults import Fault, FaultPlan, FaultSpecError


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("meltdown=0.1", "unknown fault 'meltdown'"),
        ("dropout", "needs a share"),
        ("dropout=lots", "is not a number"),
        ("dropout=1.5", "between 0 and 1"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        FaultPlan.parse([spec])


def test_a_fault_given_twice_is_refused() -> None:
    with pytest.raises(FaultSpecError, match="given twice"):
        FaultPlan.parse(["stuck=0.1", "stuck=0.2"])


def test_device_share_is_respected_and_deterministic() -> None:
    plan = FaultPlan.parse(["dropout=0.25"])
    chosen = [plan.for_device(9, f"d-{i}", 60).has(Fault.DROPOUT) for i in range(4000)]
    again = [plan.for_device(9, f"d-{i}", 60).has(Fault.DROPOUT) for i in range(4000)]
    assert chosen == again
    assert 0.22 < sum(chosen) / len(chosen) < 0.28


def test_message_faults_hit_about_their_rate_on_every_device() -> None:
    faults = FaultPlan.parse(["duplicate=0.1"]).for_device(1, "d-1", None)
    hits = [faults.hits(Fault.DUPLICATE, seq) for seq in range(20_000)]
    assert 0.09 < sum(hits) / len(hits) < 0.11
    assert not faults.hits(Fault.MALFORMED, 3)


def test_one_off_events_fall_inside_the_run() -> None:
    for i in range(200):
        faults = FaultPlan.parse(["dropout=1", "battery=1"]).for_device(2, f"d-{i}", 20)
        assert 1.0 <= faults.dropout_after_s <= 10.0
        assert 2.0 <= faults.battery_life_s <= 10.0
        assert 2_000 <= abs(faults.skew_ms) <= 240_000  # inside the gateway's 300 s future window
