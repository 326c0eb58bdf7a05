"""Simulated time: durations, speed and the backfill phase."""

from __future__ import annotations

import pytest

from devices.clock import SimClock, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("10m", 600), ("1.5h", 5400), ("7d", 604800)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "5y", "-3s"])
def test_bad_durations_name_the_input(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_speed_scales_time_after_the_start() -> None:
    clock = SimClock(start_ms=1_000_000, speed=60, _wall0=100.0)
    assert clock.sim_ms(100.0) == 1_000_000
    assert clock.sim_ms(101.0) == 1_060_000
    assert clock.wall_at(1_060_000) == pytest.approx(101.0)


def test_backfill_races_through_the_past_then_runs_at_speed() -> None:
    clock = SimClock(start_ms=10_000_000, speed=1, backfill_s=3600, backfill_speed=3600, _wall0=0.0)
    assert clock.origin_ms == 10_000_000 - 3_600_000
    assert clock.in_backfill(0.5)
    assert clock.sim_ms(0.5) == 10_000_000 - 1_800_000
    assert clock.sim_ms(1.0) == 10_000_000
    assert clock.sim_ms(3.0) == 10_002_000
    assert not clock.in_backfill(1.5)
    assert clock.wall_at(10_000_000 - 1_800_000) == pytest.approx(0.5)
