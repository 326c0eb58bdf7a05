"""Drift against the district's peers: a slow divergence is drift, a heat wave that lifts every peer is not."""

from __future__ import annotations

import math

from services.quality.findings import HourStat
from services.quality.limits import limits_of
from services.quality.peer_checks import DriftRules, drift, peer_medians
from smartcity.quality_flags import FlagKind

H = 3_600_000


def _city(hours: int, lift: float = 0.0, drifting: float = 0.0, onset: int = 30) -> dict[str, list[HourStat]]:
    """Five temperature sensors with their own offsets and noise; ``lift`` per hour raises every one (a heat
    wave from hour 30), ``drifting`` per hour from ``onset`` raises the first one only."""
    city: dict[str, list[HourStat]] = {}
    for device in range(5):
        series = []
        for h in range(hours):
            noise = 0.15 * (((h * 7 + device * 13) % 11) / 5 - 1)
            value = 15 + device * 0.4 + noise + max(0, h - 30) * lift
            if device == 0 and h >= onset:
                value += (h - onset) * drifting
            series.append(HourStat(h * H, value, value - 0.5, value + 0.5, 12))
        city[f"t-{device}"] = series
    return city


def test_a_sensor_drifting_away_from_its_peers_is_flagged_within_a_day() -> None:
    city = _city(72, drifting=0.25)
    medians = peer_medians(city, DriftRules().min_peers)
    (finding,), _ = drift(city["t-0"], medians, "temperature", limits_of("temperature"), DriftRules())
    assert finding.kind is FlagKind.DRIFT
    assert finding.end_ms is None
    assert 30 * H <= finding.start_ms <= 30 * H + 24 * H
    for other in ("t-1", "t-2", "t-3", "t-4"):
        assert drift(city[other], medians, "temperature", limits_of("temperature"), DriftRules())[0] == []


def test_a_heat_wave_that_lifts_every_sensor_is_not_drift() -> None:
    city = _city(72, lift=0.4)
    medians = peer_medians(city, DriftRules().min_peers)
    for hours in city.values():
        assert drift(hours, medians, "temperature", limits_of("temperature"), DriftRules())[0] == []


def test_a_sensor_that_always_reads_high_is_not_drifting() -> None:
    city = _city(72)
    city["t-0"] = [HourStat(h.hour_ms, h.mean + 4, h.low + 4, h.high + 4, h.count) for h in city["t-0"]]
    medians = peer_medians(city, DriftRules().min_peers)
    assert drift(city["t-0"], medians, "temperature", limits_of("temperature"), DriftRules())[0] == []


def test_without_enough_peers_there_is_no_median_and_no_verdict() -> None:
    city = {name: hours for name, hours in _city(72, drifting=0.25).items() if name in ("t-0", "t-1")}
    medians = peer_medians(city, DriftRules().min_peers)
    assert medians == {}
    assert drift(city["t-0"], medians, "temperature", limits_of("temperature"), DriftRules())[0] == []


def test_a_drift_longer_than_the_look_back_stays_flagged_against_its_reference() -> None:
    city = _city(120, drifting=0.25, onset=30)
    rules = DriftRules()
    medians = peer_medians(city, rules.min_peers)
    first_window = city["t-0"][:48]
    (found,), reference = drift(first_window, medians, "temperature", limits_of("temperature"), rules)
    assert found.end_ms is None
    late_window = city["t-0"][72:120]  # all of it drifting: alone, only its second day stands out
    (alone,), _ = drift(late_window, medians, "temperature", limits_of("temperature"), rules)
    assert alone.start_ms >= 96 * H
    (still,), _ = drift(late_window, medians, "temperature", limits_of("temperature"), rules, reference)
    assert still.end_ms is None
    assert still.start_ms == 72 * H


def test_a_drift_under_way_before_the_first_hour_is_found_from_its_trending_baseline() -> None:
    city = _city(48, drifting=0.1, onset=0)  # 2.4 a day: its baseline's spread alone would hide it
    rules = DriftRules()
    medians = peer_medians(city, rules.min_peers)
    (found,), reference = drift(city["t-0"], medians, "temperature", limits_of("temperature"), rules)
    assert reference is not None
    _, _, scale = reference
    assert found.end_ms is None
    assert 24 * H <= found.start_ms <= 30 * H
    assert scale < 0.5  # the noise around the trend, not the trend's own spread (about 0.9)


def test_a_sensor_drifting_from_the_first_hour_of_its_history_is_found_on_its_first_day() -> None:
    city = _city(20, drifting=0.25, onset=0)  # a new sensor, or the first day of data: no 24 hours of baseline
    rules = DriftRules()
    medians = peer_medians(city, rules.min_peers)
    (found,), reference = drift(city["t-0"], medians, "temperature", limits_of("temperature"), rules)
    assert reference is not None
    assert found.end_ms is None
    assert rules.first_baseline_h * H <= found.start_ms < 20 * H
    for other in ("t-1", "t-2", "t-3", "t-4"):
        assert drift(city[other], medians, "temperature", limits_of("temperature"), rules)[0] == []
    assert drift(city["t-0"][:15], medians, "temperature", limits_of("temperature"), rules) == ([], None)


def test_a_daily_cycle_against_the_peers_is_not_a_trend() -> None:
    city = _city(96)
    city["t-0"] = [
        HourStat(h.hour_ms, v, v - 0.5, v + 0.5, h.count)
        for h in city["t-0"]
        for v in [h.mean + 1.5 * math.sin(2 * math.pi * (h.hour_ms // H) / 24)]
    ]
    rules = DriftRules()
    medians = peer_medians(city, rules.min_peers)
    for start in range(0, 49, 6):
        window = city["t-0"][start : start + 48]
        assert drift(window, medians, "temperature", limits_of("temperature"), rules)[0] == []


def _halls(hours: int, drifting: float = 0.0, onset: int = 30) -> dict[str, list[HourStat]]:
    """Five halls for 300 to 1,500 people, open from 8 to 17, each counting its share of
    the city's rhythm with 3 % noise; ``drifting`` people per hour from ``onset`` are added to the first one."""
    city: dict[str, list[HourStat]] = {}
    for device in range(5):
        capacity = 300 * (device + 1)
        series = []
        for h in range(hours):
            share = math.sin(math.pi * ((h % 24) - 8) / 9) if 8 <= h % 24 <= 17 else 0.0  # open 8-17
            noise = 0.03 * (((h * 7 + device * 13) % 11) / 5 - 1)
            value = capacity * share * (1 + noise)
            if device == 0 and h >= onset:
                value += (h - onset) * drifting
            series.append(HourStat(h * H, value, value, value, 12))
        city[f"hall-{device}"] = series
    return city


def test_halls_of_different_sizes_are_compared_as_a_share_of_their_peers_not_a_distance() -> None:
    city = _halls(96)
    medians = peer_medians(city, DriftRules().min_peers)
    for hours in city.values():  # 1,500 people by day against a median of 900 is the hall's size, not a drift
        assert drift(hours, medians, "occupancy", limits_of("occupancy"), DriftRules())[0] == []
    assert limits_of("temperature").proportional is False


def test_a_people_count_drifting_up_is_flagged_as_a_share_of_what_its_peers_predict() -> None:
    city = _halls(96, drifting=2.0)  # 48 people a day more than there are
    medians = peer_medians(city, DriftRules().min_peers)
    (finding,), reference = drift(city["hall-0"], medians, "occupancy", limits_of("occupancy"), DriftRules())
    assert reference is not None
    gain = reference[0]
    assert 30 * H <= finding.start_ms <= 30 * H + 24 * H
    assert finding.end_ms is None
    assert "above" in finding.reason
    assert "ratio" in finding.reason
    assert abs(gain - 1 / 3) < 0.05  # 300 of a median hall of 900
    for other in ("hall-1", "hall-2", "hall-3", "hall-4"):
        assert drift(city[other], medians, "occupancy", limits_of("occupancy"), DriftRules())[0] == []


def test_a_proportional_metric_whose_peers_never_rise_above_zero_gets_no_verdict() -> None:
    city = {f"hall-{d}": [HourStat(h * H, 0.0, 0.0, 0.0, 12) for h in range(72)] for d in range(4)}
    medians = peer_medians(city, DriftRules().min_peers)
    assert drift(city["hall-0"], medians, "occupancy", limits_of("occupancy"), DriftRules()) == ([], None)


def test_a_day_a_counter_read_zero_in_its_baseline_does_not_shrink_its_size() -> None:
    city = _halls(96)
    morning = range(8 * H, 14 * H)  # the counter read 0 until 14 h on the first day
    city["hall-0"] = [HourStat(h.hour_ms, 0.0, 0.0, 0.0, 12) if h.hour_ms in morning else h for h in city["hall-0"]]
    medians = peer_medians(city, DriftRules().min_peers)
    found, reference = drift(city["hall-0"], medians, "occupancy", limits_of("occupancy"), DriftRules())
    assert found == []
    assert reference is not None
    assert abs(reference[0] - 1 / 3) < 0.05


def test_a_sensor_coming_back_after_a_drift_from_before_its_history_is_not_a_drift_the_other_way() -> None:
    city = _city(110, drifting=0.3, onset=0)
    city["t-0"] = [  # recalibrated at hour 40: back with its peers
        h if h.hour_ms < 40 * H else HourStat(h.hour_ms, m, m - 0.5, m + 0.5, h.count)
        for h in city["t-0"]
        for m in [h.mean - 0.3 * (h.hour_ms // H)]
    ]
    rules = DriftRules()
    medians = peer_medians(city, rules.min_peers)
    reference = None
    directions = set()
    for end in range(48, 111):  # hour passes, the reference kept while a drift is in the look-back
        found, used = drift(
            city["t-0"][end - 48 : end], medians, "temperature", limits_of("temperature"), rules, reference
        )
        reference = used if found else None
        directions |= {"above" in f.reason for f in found}
    assert directions == {True}


def _streets(gains: tuple[float, ...], hours: int = 72) -> dict[str, list[HourStat]]:
    """Traffic counters reading vehicles a minute (60 readings an hour): one a minute at night, about nine at the
    daily peak, each street ``gains`` times the rhythm with 2 % noise."""
    city: dict[str, list[HourStat]] = {}
    for device, gain in enumerate(gains):
        series = []
        for h in range(hours):
            rhythm = 1 + 8 * max(0.0, math.sin(math.pi * ((h % 24) - 6) / 14)) if 6 <= h % 24 <= 20 else 1.0
            noise = 0.02 * (((h * 7 + device * 13) % 11) / 5 - 1)
            value = gain * rhythm * (1 + noise)
            series.append(HourStat(h * H, value, math.floor(value), math.ceil(value), 60))
        city[f"tc-{device}"] = series
    return city


def _drifted(hours: list[HourStat], per_hour: float, onset: int) -> list[HourStat]:
    return [
        h if h.hour_ms < onset * H else HourStat(h.hour_ms, v, math.floor(v), math.ceil(v), h.count)
        for h in hours
        for v in [max(0.0, h.mean + per_hour * (h.hour_ms // H - onset))]
    ]


def test_a_quiet_street_counter_drifting_towards_zero_is_found_though_each_reading_is_a_whole_vehicle() -> None:
    city = _streets((1.0, 1.1, 0.9, 1.2, 0.95))
    city["tc-0"] = _drifted(city["tc-0"], -0.4, onset=40)  # ten vehicles a minute fewer a day
    rules = DriftRules()
    medians = peer_medians(city, rules.min_peers)
    (found,), _ = drift(city["tc-0"], medians, "vehicle_count", limits_of("vehicle_count"), rules)
    assert "below" in found.reason
    assert 40 * H <= found.start_ms <= 64 * H
    for other in ("tc-1", "tc-2", "tc-3", "tc-4"):
        assert drift(city[other], medians, "vehicle_count", limits_of("vehicle_count"), rules)[0] == []


def test_the_median_of_three_moving_to_another_street_when_one_drifts_is_no_drift_of_the_other_two() -> None:
    city = _streets((1.0, 1.37, 1.17))  # the third is the median until it drifts up past the second
    city["tc-2"] = _drifted(city["tc-2"], 0.4, onset=30)
    rules = DriftRules()
    medians = peer_medians(city, rules.min_peers)
    for other in ("tc-0", "tc-1"):  # their ratio to the median changes by 15 %
        assert drift(city[other], medians, "vehicle_count", limits_of("vehicle_count"), rules)[0] == []


def test_a_lone_outlier_in_the_first_judged_hour_does_not_start_a_drift() -> None:
    city = _city(20)
    city["t-0"] = [
        HourStat(h.hour_ms, v, v - 0.5, v + 0.5, h.count)
        for h in city["t-0"]
        for n in [h.hour_ms // H]
        for v in [h.mean + (10 if n == 12 else 3 if n >= 14 else 0)]  # a spike, then a step up two hours later
    ]
    rules = DriftRules()
    medians = peer_medians(city, rules.min_peers)
    (found,), _ = drift(city["t-0"], medians, "temperature", limits_of("temperature"), rules)
    assert found.start_ms == 14 * H  # the spike is smoothed with the baseline's hours before it
