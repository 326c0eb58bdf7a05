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
    lost_runs,
    merged,
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


HOURLY = Cadence(60 * MIN, narrowband=True)


def test_one_lost_reading_of_an_hourly_device_is_offline_a_fast_one_losing_one_is_not() -> None:
    # an hourly device misses the reading at 03:00 (sequence 3): two hours between readings, inside the
    # three-interval tolerance, but an hour without data
    hourly = [(h * 60 * MIN, h) for h in range(3)] + [(h * 60 * MIN, h) for h in range(4, 8)]
    assert offline([t for t, _ in hourly], now_ms=8 * 60 * MIN, cadence=HOURLY, rules=RULES) == []
    (finding,) = lost_runs(hourly, cadence=HOURLY, rules=RULES)
    assert finding.kind is FlagKind.OFFLINE
    assert (finding.start_ms, finding.end_ms) == (3 * 60 * MIN, 4 * 60 * MIN)
    assert "1 reading lost" in finding.reason
    # a device every 10 s losing two readings in a row: a transport hiccup, not an outage
    fast = Cadence(10_000, narrowband=False)
    points = [(i * 10_000, i) for i in range(10)] + [(i * 10_000, i) for i in range(12, 20)]
    assert lost_runs(points, cadence=fast, rules=RULES) == []
    # ... and 200 in a row (33 min) is one
    points = [(i * 10_000, i) for i in range(10)] + [(i * 10_000, i) for i in range(210, 220)]
    (finding,) = lost_runs(points, cadence=fast, rules=RULES)
    assert (finding.start_ms, finding.end_ms) == (100_000, 2_100_000)


def test_restarts_repeats_and_a_switched_off_rule_lose_nothing() -> None:
    restart = [(0, 40), (60 * MIN, 41), (120 * MIN, 0), (180 * MIN, 1)]
    repeat = [(0, 5), (60 * MIN, 5), (120 * MIN, 6)]
    assert lost_runs(restart, cadence=HOURLY, rules=RULES) == []
    assert lost_runs(repeat, cadence=HOURLY, rules=RULES) == []
    lossy = [(0, 0), (180 * MIN, 3)]
    assert lost_runs(lossy, cadence=HOURLY, rules=RULES.model_copy(update={"lost_ms": 0})) == []
    # a device sampling every minute until a command set 4 h: the two readings lost are 8 h without data
    slow = [(0, 0), (12 * 60 * MIN, 3)]
    (finding,) = lost_runs(slow, cadence=Cadence(MIN, False), rules=RULES, interval_changes=[(0, 4 * 3600.0)])
    assert (finding.start_ms, finding.end_ms, finding.score) == (4 * 60 * MIN, 12 * 60 * MIN, 8 * 60 / 30)


def test_overlapping_offline_findings_join_and_an_open_one_stays_open() -> None:
    (a, b, c) = (
        lost_runs([(0, 0), (180 * MIN, 3)], cadence=HOURLY, rules=RULES)[0],
        offline([0, 200 * MIN], now_ms=201 * MIN, cadence=HOURLY, rules=RULES.model_copy(update={"tolerance": 1.5}))[0],
        offline([300 * MIN], now_ms=900 * MIN, cadence=HOURLY, rules=RULES)[0],
    )
    joined = merged([c, b, a])
    assert [(f.start_ms, f.end_ms) for f in joined] == [(60 * MIN, 200 * MIN), (360 * MIN, None)]
    assert merged([a, replace(c, start_ms=100 * MIN)])[0].end_ms is None


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


def test_a_battery_that_began_falling_lately_is_flagged_a_wobbling_one_is_not() -> None:
    hour = 3_600_000
    steady = [(i * hour, 74.0 + (0.2 if i % 3 else -0.2)) for i in range(38)]
    falling = steady + [(i * hour, 74.0 - 2.8 * (i - 37)) for i in range(38, 48)]  # 2.8 %/h for 10 h
    finding = battery(falling, BatteryRules())
    assert finding is not None
    assert "empty in" in finding.reason
    assert battery(falling, BatteryRules(recent_ms=8 * hour, min_drop=50)) is None  # too small a fall to count
    wobbling = steady + [(i * hour, 74.0 + (1.5 if i % 2 else -1.5)) for i in range(38, 48)]
    assert battery(wobbling, BatteryRules()) is None


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
