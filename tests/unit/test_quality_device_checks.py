"""Offline, delivery, skew and battery detectors, including late narrowband backlogs and a report interval
changed by a command."""

from __future__ import annotations

from dataclasses import replace

from services.quality.device_checks import (
    DAY_MS,
    BatteryRules,
    Cadence,
    CadenceRules,
    CadenceState,
    DeliveryRules,
    SilenceRules,
    SkewRules,
    battery,
    cadence_skew,
    delivery,
    interval_at,
    offline,
    skew,
)
from smartcity.health import DeviceHealth
from smartcity.quality_flags import FlagKind

MIN = 60_000
RULES = SilenceRules(tolerance=3.0, min_silence_ms=5 * MIN, narrowband_slack_ms=30 * MIN)
BROADBAND = Cadence(60_000, narrowband=False)


def test_a_silence_between_readings_is_a_closed_offline_span() -> None:
    times = [i * MIN for i in range(10)] + [i * MIN for i in range(40, 50)]
    (finding,) = offline(times, now_ms=50 * MIN, cadence=BROADBAND, rules=RULES)
    assert finding.kind is FlagKind.OFFLINE
    assert (finding.start_ms, finding.end_ms) == (10 * MIN, 40 * MIN)


def test_silence_up_to_now_is_open_and_a_short_pause_is_nothing() -> None:
    times = [i * MIN for i in range(10)]
    assert offline(times, now_ms=12 * MIN, cadence=BROADBAND, rules=RULES) == []
    (finding,) = offline(times, now_ms=30 * MIN, cadence=BROADBAND, rules=RULES)
    assert (finding.start_ms, finding.end_ms) == (10 * MIN, None)


def test_a_fired_will_is_offline_at_once() -> None:
    times = [i * MIN for i in range(10)]
    (finding,) = offline(times, now_ms=10 * MIN, cadence=BROADBAND, rules=RULES, last_seen_ms=9 * MIN, will_fired=True)
    assert finding.end_ms is None
    assert "will" in finding.reason


def test_a_late_narrowband_backlog_is_not_offline() -> None:
    # readings every 10 min, uplinked in batches every 40 min: the newest timestamp is old, but the device was
    # heard a minute ago, and its batching fits the narrowband slack
    nb = Cadence(10 * MIN, narrowband=True)
    times = [i * 10 * MIN for i in range(12)]
    assert offline(times, now_ms=150 * MIN, cadence=nb, rules=RULES, last_seen_ms=149 * MIN) == []
    assert offline(times, now_ms=150 * MIN, cadence=replace(nb, narrowband=False), rules=RULES) != []


def test_a_report_interval_raised_by_a_command_does_not_make_the_device_offline() -> None:
    # every minute, then a command sets 15 minutes at minute 9
    times = [i * MIN for i in range(10)] + [9 * MIN + i * 15 * MIN for i in range(1, 5)]
    changes = [(9 * MIN, 900.0)]
    assert interval_at(changes, 5 * MIN, 60_000) == 60_000
    assert interval_at(changes, 20 * MIN, 60_000) == 900_000
    now = times[-1] + 20 * MIN
    assert offline(times, now_ms=now, cadence=BROADBAND, rules=RULES, interval_changes=changes) == []
    assert offline(times, now_ms=now, cadence=BROADBAND, rules=RULES) != []


def _health(**fields: object) -> DeviceHealth:
    base = {
        "device": "aq-1",
        "gaps": 0,
        "duplicates": 0,
        "readings": 100,
        "first_seq": 0,
        "last_seq": 99,
        "restarts": 0,
        "online": True,
        "last_seen_ms": 1000,
        "clock_offset_ms": -200,
        "replicas": ("gw-1",),
    }
    return DeviceHealth(**(base | fields))  # type: ignore[arg-type]


def test_gaps_and_duplicates_that_grew_by_a_large_share_are_flagged() -> None:
    rules = DeliveryRules(min_missing=5, share=0.2)
    assert delivery(None, _health(), rules) == []
    kinds = [f.kind for f in delivery(_health(), _health(readings=130, gaps=20, duplicates=10), rules)]
    assert kinds == [FlagKind.GAPS, FlagKind.DUPLICATES]
    assert delivery(_health(), _health(readings=200, gaps=3, duplicates=2), rules) == []


def test_a_clock_ahead_is_skew_and_one_behind_only_when_asked() -> None:
    rules = SkewRules(threshold_ms=5_000)
    ahead = skew(_health(clock_offset_ms=90_000), narrowband=False, rules=rules, at_ms=5)
    assert ahead is not None
    assert (ahead.kind, ahead.start_ms) == (FlagKind.SKEW, 5)
    assert skew(_health(clock_offset_ms=90_000), narrowband=True, rules=rules, at_ms=5) is not None
    assert skew(_health(clock_offset_ms=1_500), narrowband=False, rules=rules, at_ms=5) is None
    assert skew(_health(clock_offset_ms=None), narrowband=False, rules=rules, at_ms=5) is None
    # behind: late delivery, a backlog or a back-fill look the same as a slow clock
    assert skew(_health(clock_offset_ms=-90_000), narrowband=False, rules=rules, at_ms=5) is None
    assert skew(_health(clock_offset_ms=-3 * DAY_MS), narrowband=False, rules=rules, at_ms=5) is None
    asked = SkewRules(threshold_ms=5_000, behind_ms=60_000)
    assert skew(_health(clock_offset_ms=-90_000), narrowband=False, rules=asked, at_ms=5) is not None
    assert skew(_health(clock_offset_ms=-90_000), narrowband=True, rules=asked, at_ms=5) is None


def test_a_battery_emptying_within_days_is_flagged_a_slowly_ageing_one_is_not() -> None:
    hour = 3_600_000
    falling = [(i * hour, 80 - i * 1.0 + (0.3 if i % 2 else -0.3)) for i in range(48)]
    finding = battery(falling, BatteryRules())
    assert finding is not None
    assert finding.kind is FlagKind.BATTERY
    ageing = [(i * hour, 80 - i * 0.002) for i in range(48)]
    assert battery(ageing, BatteryRules()) is None
    low = [(i * DAY_MS, 9.0) for i in range(3)]
    assert battery(low, BatteryRules()) is not None
    assert battery([], BatteryRules()) is None


def _cadence(n: int, interval: int = 600_000, start: int = 0, seq0: int = 0) -> list[tuple[int, int]]:
    return [(start + i * interval, seq0 + i) for i in range(n)]


def test_a_clock_that_jumps_and_comes_back_is_skew_over_the_jump() -> None:
    readings = _cadence(40)
    skewed = [(t + 90_000, s) if 10 <= s < 25 else (t, s) for t, s in readings]
    state = CadenceState()
    found = cadence_skew(skewed[:20], state, CadenceRules()) + cadence_skew(skewed[20:], state, CadenceRules())
    found += cadence_skew([], state, CadenceRules(), final=True)
    closed = [f for f in found if f.end_ms is not None]
    assert [(f.kind, f.start_ms, f.end_ms) for f in closed] == [(FlagKind.SKEW, 10 * 600_000, 25 * 600_000)]


def test_an_ongoing_skew_is_open_and_cadence_alone_is_nothing() -> None:
    state = CadenceState()
    assert cadence_skew(_cadence(30), state, CadenceRules(), final=True) == []
    skewed = [(t - 120_000, s) if s >= 20 else (t, s) for t, s in _cadence(40)]
    (finding,) = cadence_skew(skewed, CadenceState(), CadenceRules(), final=True)
    assert (finding.start_ms, finding.end_ms) == (20 * 600_000, None)
    assert "-120 s" in finding.reason


def test_offline_gaps_new_intervals_and_restarts_keep_the_cadence() -> None:
    gap = [r for r in _cadence(40) if not 10 <= r[1] < 20]  # lost readings: the sequence jumps with the time
    assert cadence_skew(gap, CadenceState(), CadenceRules(), final=True) == []
    changed = _cadence(20) + _cadence(20, interval=60_000, start=20 * 600_000, seq0=20)  # a command: 1 min
    assert cadence_skew(changed, CadenceState(), CadenceRules(), final=True) == []
    restarted = _cadence(20) + _cadence(20, start=20 * 600_000 + 37_000)  # seq from 0 again, a new phase
    assert cadence_skew(restarted, CadenceState(), CadenceRules(), final=True) == []
