"""Stuck and spike detectors on synthetic series, including sensors that are legitimately constant and a
city-wide rain shower."""

from __future__ import annotations

import math

from services.quality.findings import Finding, HourStat
from services.quality.limits import limits_of
from services.quality.value_checks import (
    CommonModeRules,
    SpikeRules,
    StuckRules,
    drop_common_mode,
    spikes,
    stuck,
)
from smartcity.quality_flags import FlagKind

H = 3_600_000
MIN = 60_000


def _hour(index: int, mean: float, spread: float = 0.0, count: int = 12) -> HourStat:
    return HourStat(index * H, mean, mean - spread, mean + spread, count)


def test_a_sensor_holding_one_value_for_hours_is_stuck_from_the_first_flat_hour() -> None:
    hours = [_hour(i, 20 + i, spread=2) for i in range(5)] + [_hour(i, 31.4) for i in range(5, 10)]
    (finding,) = stuck(hours, "no2", limits_of("no2"), StuckRules())
    assert finding.kind is FlagKind.STUCK
    assert finding.start_ms == 5 * H
    assert finding.end_ms is None
    assert finding.metric == "no2"
    assert finding.score >= 1


def test_a_stuck_run_that_ended_is_closed_where_the_values_move_again() -> None:
    hours = [_hour(i, 31.4) for i in range(6)] + [_hour(6, 25, spread=3), _hour(7, 26, spread=3)]
    (finding,) = stuck(hours, "no2", limits_of("no2"), StuckRules())
    assert (finding.start_ms, finding.end_ms) == (0, 6 * H)


def test_a_short_flat_stretch_is_not_stuck() -> None:
    hours = [_hour(i, 31.4) for i in range(2)] + [_hour(2, 25, spread=3)]
    assert stuck(hours, "no2", limits_of("no2"), StuckRules()) == []


def test_a_closed_schools_occupancy_at_zero_all_night_is_not_stuck() -> None:
    night = [_hour(i, 0.0) for i in range(14)]
    assert stuck(night, "occupancy", limits_of("occupancy"), StuckRules()) == []


def test_a_street_light_off_by_day_and_at_full_level_by_night_is_not_stuck() -> None:
    day_power = [_hour(i, 0.0) for i in range(10)]
    assert stuck(day_power, "lamp_power", limits_of("lamp_power"), StuckRules()) == []
    night_level = [_hour(i, 100.0) for i in range(16)]
    assert stuck(night_level, "dim_level", limits_of("dim_level"), StuckRules()) == []


def test_occupancy_stuck_at_a_nonzero_count_all_day_is_stuck() -> None:
    hours = [_hour(i, 37.0) for i in range(12)]
    assert [f.kind for f in stuck(hours, "occupancy", limits_of("occupancy"), StuckRules())] == [FlagKind.STUCK]


def test_too_few_readings_in_a_flat_run_are_not_evidence() -> None:
    hours = [_hour(i, 31.4, count=1) for i in range(4)]
    assert stuck(hours, "no2", limits_of("no2"), StuckRules()) == []


def _wavy(n: int, start: int = 0, interval: int = 5 * MIN) -> list[tuple[int, float]]:
    return [(start + i * interval, 20 + 3 * math.sin(i / 5) + 0.5 * math.cos(i * 1.7)) for i in range(n)]


def test_an_in_range_spike_is_found_at_its_reading() -> None:
    points = _wavy(60)
    points[40] = (points[40][0], 80.0)
    (finding,) = spikes(points, "pm25", limits_of("pm25"), SpikeRules())
    assert finding.kind is FlagKind.SPIKE
    assert finding.start_ms == points[40][0]
    assert finding.score >= 1


def test_normal_variation_has_no_spikes() -> None:
    assert spikes(_wavy(200), "pm25", limits_of("pm25"), SpikeRules()) == []


def test_a_step_to_a_new_level_is_not_a_spike() -> None:
    points = _wavy(40) + [(40 * 5 * MIN + i * 5 * MIN, 60.0 + 0.1 * i) for i in range(10)]
    assert spikes(points, "pm25", limits_of("pm25"), SpikeRules()) == []


def test_a_city_wide_rain_shower_is_not_a_spike_but_one_gauge_alone_is() -> None:
    def gauge(shower: bool) -> list[tuple[int, float]]:
        points = [(i * 5 * MIN, 0.0) for i in range(30)]
        if shower:
            points[20] = (points[20][0], 8.0)
        return points

    found = {f"rg-{i}": spikes(gauge(True), "rain_rate", limits_of("rain_rate"), SpikeRules()) for i in range(6)}
    assert all(len(findings) == 1 for findings in found.values())  # each gauge alone sees an outlier
    kept = drop_common_mode(found, peers=6, rules=CommonModeRules())
    assert all(findings == [] for findings in kept.values())
    lonely = {"rg-0": found["rg-0"], **{f"rg-{i}": [] for i in range(1, 6)}}
    assert drop_common_mode(lonely, peers=6, rules=CommonModeRules())["rg-0"] == found["rg-0"]


def test_spikes_in_neighbouring_buckets_count_as_one_event() -> None:
    def at(ts: int) -> list[Finding]:
        return [Finding(FlagKind.SPIKE, ts, ts + 1, 2.0, "x", "rain_rate")]

    rules = CommonModeRules(bucket_ms=30 * MIN)
    found = {"a": at(29 * MIN), "b": at(31 * MIN), "c": []}
    assert drop_common_mode(found, peers=3, rules=rules) == {"a": [], "b": [], "c": []}


def test_normal_values_after_a_stuck_stretch_are_not_spikes() -> None:
    points = [(i * 5 * MIN, 400.0) for i in range(30)] + [
        (i * 5 * MIN, 460.0 + 40 * math.sin(i)) for i in range(30, 60)
    ]
    assert spikes(points, "co2", limits_of("co2"), SpikeRules()) == []


def test_a_spike_on_a_signal_that_climbs_all_day_is_found_and_the_climb_is_not() -> None:
    # an office's CO2 every 10 min: 420 ppm at 07:00 rising to 1,600 by 17:00, a little noise
    office = [(i * 10 * MIN, 420 + 20 * i + 6 * math.sin(i * 1.3)) for i in range(60)]
    assert spikes(office, "co2", limits_of("co2"), SpikeRules()) == []
    office[45] = (office[45][0], office[45][1] + 1_900)  # 2.2x the level: a median test sees a busy day
    (finding,) = spikes(office, "co2", limits_of("co2"), SpikeRules())
    assert finding.start_ms == office[45][0]


def test_a_filling_bin_that_reads_empty_once_has_a_spike_an_emptied_one_has_none() -> None:
    filling = [(i * H, 20 + 1.5 * i + 0.3 * math.sin(i)) for i in range(40)]
    glitch = [*filling]
    glitch[30] = (glitch[30][0], 0.0)
    (finding,) = spikes(glitch, "fill_level", limits_of("fill_level"), SpikeRules())
    assert finding.start_ms == 30 * H
    emptied = filling[:30] + [(i * H, 0.5 * (i - 30)) for i in range(30, 40)]  # collected: stays low
    assert spikes(emptied, "fill_level", limits_of("fill_level"), SpikeRules()) == []


def test_the_newest_reading_waits_for_its_successor() -> None:
    points = _wavy(40)
    points[-1] = (points[-1][0], 90.0)
    assert spikes(points, "pm25", limits_of("pm25"), SpikeRules()) == []
    later = [*points, (points[-1][0] + 5 * MIN, points[-2][1])]
    assert [f.start_ms for f in spikes(later, "pm25", limits_of("pm25"), SpikeRules())] == [points[-1][0]]


def test_a_peak_level_and_a_lamp_switching_on_are_never_spikes() -> None:
    peaks = [(i * MIN, 55.0 + (40.0 if i == 30 else 0.3 * math.sin(i))) for i in range(60)]  # a lorry passing
    assert spikes(peaks, "lamax", limits_of("lamax"), SpikeRules()) == []
    assert spikes(peaks, "laeq", limits_of("laeq"), SpikeRules()) != []  # the same shape on the mean level
    lamp = [(i * 15 * MIN, 71.0 if i == 20 else 0.0) for i in range(40)]
    assert spikes(lamp, "lamp_power", limits_of("lamp_power"), SpikeRules()) == []


def _peers(hours: range, level: float) -> dict[int, float]:
    return {i * H: level for i in hours}


def test_occupancy_at_zero_through_a_school_day_is_stuck_but_not_through_a_weekend() -> None:
    zero = [_hour(i, 0.0) for i in range(35)]  # 35 h at 0 from the evening
    school_day = {**_peers(range(35), 0.0), **_peers(range(12, 22), 240.0)}  # the other schools fill by day
    (finding,) = stuck(zero, "occupancy", limits_of("occupancy"), StuckRules(), school_day)
    assert (finding.start_ms, finding.end_ms) == (0, None)
    assert "while its peers moved" in finding.reason
    weekend = _peers(range(35), 0.0)  # every school is closed
    assert stuck(zero, "occupancy", limits_of("occupancy"), StuckRules(), weekend) == []
    assert stuck(zero, "occupancy", limits_of("occupancy"), StuckRules()) == []  # no peers: a rest is a rest


def test_a_jitter_of_a_few_percent_on_a_busy_hospital_is_no_spike() -> None:
    # 1,000 people, counted every 5 min, quiet steps of a few people, then one count 40 below its neighbours
    ward = [(i * 5 * MIN, 1_000 + 2 * math.sin(i)) for i in range(40)]
    ward[30] = (ward[30][0], 960.0)
    assert spikes(ward, "occupancy", limits_of("occupancy"), SpikeRules()) == []
    assert spikes(ward, "occupancy", limits_of("occupancy"), SpikeRules(min_relative=0.0)) != []


def test_co2_pinned_at_its_range_floor_while_its_peers_read_room_air_is_a_drift_into_the_limit() -> None:
    falling = [_hour(i, 420.0 - 40 * i, spread=15) for i in range(4)]  # a fast drift down to the 250 ppm floor
    pinned = falling + [_hour(i, 250.0) for i in range(4, 16)]
    rooms = _peers(range(16), 450.0)
    (finding,) = stuck(pinned, "co2", limits_of("co2"), StuckRules(), rooms)
    assert finding.kind is FlagKind.DRIFT
    assert (finding.start_ms, finding.end_ms) == (4 * H, None)
    assert "pinned at its range limit 250" in finding.reason
    assert stuck(pinned, "co2", limits_of("co2"), StuckRules()) == []  # without peers, a limit says nothing


def test_a_full_bin_and_a_hygrometer_in_fog_are_pinned_at_their_limit_and_not_stuck() -> None:
    full = [_hour(i, 100.0) for i in range(20)]  # waiting for its collection
    assert stuck(full, "fill_level", limits_of("fill_level"), StuckRules()) == []
    foggy = [_hour(i, 100.0) for i in range(10)]
    assert stuck(foggy, "humidity", limits_of("humidity"), StuckRules(), _peers(range(10), 100.0)) == []
    held = [_hour(i, 99.0) for i in range(10)]  # one below the limit is an ordinary stuck value
    assert [f.kind for f in stuck(held, "humidity", limits_of("humidity"), StuckRules())] == [FlagKind.STUCK]


def test_a_count_that_moves_every_hour_held_for_half_its_plausible_run_is_stuck() -> None:
    busy = [_hour(i, 10.0, spread=1) for i in range(40)]  # 9 to 11 in every hour
    held = busy + [_hour(40 + i, 11.0) for i in range(5)] + [_hour(45, 10.0, spread=1)]
    (finding,) = stuck(held, "occupancy", limits_of("occupancy"), StuckRules())  # 5 h, plausible 8 h
    assert (finding.start_ms, finding.end_ms) == (40 * H, 45 * H)
    assert "rarely flat" in finding.reason
    assert finding.score >= 1
    short = busy + [_hour(40 + i, 11.0) for i in range(3)] + [_hour(43, 10.0, spread=1)]
    assert stuck(short, "occupancy", limits_of("occupancy"), StuckRules()) == []  # under half of it


def test_a_count_often_flat_on_its_own_is_not_stuck_before_its_plausible_run() -> None:
    quiet = [_hour(i, 10.0, spread=0 if i % 3 else 1) for i in range(40)]  # two hours in three flat
    held = quiet + [_hour(40 + i, 11.0) for i in range(5)] + [_hour(45, 10.0, spread=1)]
    assert stuck(held, "occupancy", limits_of("occupancy"), StuckRules()) == []


def test_a_bin_reporting_hourly_held_for_eight_hours_is_stuck() -> None:
    """One reading an hour: eight equal readings in eight hours of a bin that otherwise rises every hour."""
    filling = [_hour(i, 10.0 + 1.5 * i, spread=0.0, count=1) for i in range(20)]
    held = [_hour(i, 40.0, count=1) for i in range(20, 28)]
    after = [_hour(i, 45.0 + 1.5 * (i - 28), count=1) for i in range(28, 32)]
    (finding,) = stuck([*filling, *held, *after], "fill_level", limits_of("fill_level"), StuckRules())
    assert finding.kind is FlagKind.STUCK
    assert (finding.start_ms, finding.end_ms) == (20 * H, 28 * H)
    assert "held 40 for 8 h (8 readings)" in finding.reason


def _guarded_days(days: int, stuck_from: int | None = None) -> list[HourStat]:
    """A public building with a night guard: 2 people from 16:00 to 05:00, 10 to 70 by day; from ``stuck_from``
    the counter holds whatever it read then."""
    hours = []
    for i in range(24 * days):
        by_day = (i % 24) < 16 and (i % 24) > 4
        level = 10 + 60 * ((i % 24) - 5) / 11 if by_day else 2.0
        hours.append(_hour(i, level, spread=5.0 if by_day else 0.0, count=60))
    if stuck_from is not None:
        held = hours[stuck_from].mean
        hours = hours[:stuck_from] + [_hour(i, held, count=60) for i in range(stuck_from, len(hours))]
    return hours


def test_a_night_guard_s_two_people_every_night_are_the_building_s_rest_level_not_a_stuck_counter() -> None:
    hours = _guarded_days(2)
    for end in range(16, len(hours) + 1):  # whichever night the look-back starts with
        assert stuck(hours[max(0, end - 48) : end], "occupancy", limits_of("occupancy"), StuckRules()) == []


def test_a_counter_stuck_at_its_night_level_through_a_day_is_stuck_once_past_its_nights_length() -> None:
    hours = _guarded_days(3, stuck_from=40)  # the second night: it never comes back to the day's counts
    (finding,) = stuck(hours[-48:], "occupancy", limits_of("occupancy"), StuckRules())
    assert finding.kind is FlagKind.STUCK
    assert finding.end_ms is None
    assert finding.start_ms == 40 * H
