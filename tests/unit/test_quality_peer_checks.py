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
