"""The roll-up policy, tier choice, local days and late marks of the core (smartcity.rollups, smartcity.latewindows)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from smartcity.latewindows import LATE_MARGIN_S, late_window_lines, line_timestamps
from smartcity.rollups import DAY, HOUR, MINUTE, LocalDays, RollupPolicy, coarsest_tier, window_ceil, window_floor

H = 3_600_000


def test_raw_retention_must_outlast_the_gateways_late_window() -> None:
    with pytest.raises(ValidationError, match="raw_days"):
        RollupPolicy(raw_days=31)
    assert RollupPolicy(raw_days=32).raw_days == 32


def test_coarser_tiers_are_kept_at_least_as_long() -> None:
    with pytest.raises(ValidationError, match="1h roll-ups"):
        RollupPolicy(minute_days=400, hour_days=100)
    with pytest.raises(ValidationError, match="for ever"):
        RollupPolicy(hour_days=0, day_days=3650)
    policy = RollupPolicy()
    assert [policy.influx_duration(t) for t in (MINUTE, HOUR, DAY)] == ["93d", "730d", "INF"]


def test_the_coarsest_tier_that_tiles_the_bucket_and_none_for_percentiles() -> None:
    assert coarsest_tier(60) is MINUTE
    assert coarsest_tier(3600) is HOUR
    assert coarsest_tier(86_400) is DAY
    assert coarsest_tier(7200) is HOUR
    assert coarsest_tier(90) is None
    assert coarsest_tier(3600, percentile=True) is None


def test_local_days_follow_daylight_saving_time() -> None:
    berlin = LocalDays("Europe/Berlin")
    spring = 1_743_289_200_000  # 2025-03-30 local midnight (UTC+1), the day has 23 hours
    assert berlin.day_of(spring + 5 * H) == (spring, spring + 23 * H)
    autumn = 1_761_429_600_000  # 2025-10-26 local midnight (UTC+2), the day has 25 hours
    assert berlin.day_of(autumn) == (autumn, autumn + 25 * H)
    assert [d[0] for d in berlin.days_between(spring, spring + 48 * H)] == [spring, spring + 23 * H]
    assert window_floor(spring + 5 * H, DAY, berlin) == spring
    assert window_ceil(spring + 1, DAY, berlin) == spring + 23 * H
    assert window_ceil(spring + 90_000, MINUTE, berlin) == spring + 120_000
    assert window_ceil(spring, HOUR, berlin) == spring
    kolkata = LocalDays("Asia/Kolkata")  # midnight is 18:30 UTC: not on a UTC hour
    assert kolkata.day_of(0)[0] % H == 30 * 60_000


def test_late_marks_name_each_hour_that_ended_before_the_margin() -> None:
    now = 10 * H + 30_000  # 30 s into hour 10: hour 9 ended less than the margin ago
    assert late_window_lines([10 * H + 1, 9 * H + 5], now_ms=now) == []
    later = 10 * H + LATE_MARGIN_S * 1000
    lines = late_window_lines([9 * H + 5, 9 * H + 7, 2 * H, 10 * H], now_ms=later)
    assert lines == [f"late_windows,hour={2 * H} points=1i {later}", f"late_windows,hour={9 * H} points=2i {later}"]
    assert line_timestamps(["m,a=b v=1 17", "broken", "m v=2i 18"]) == [17, 18]
