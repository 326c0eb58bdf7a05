"""Drift against the district's peers: a slow divergence is drift, a heat wave that lifts every peer is not."""

from __future__ import annotations

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
    late_window = city["t-0"][72:120]  # all of it drifting: alone, it would be its own baseline
    assert drift(late_window, medians, "temperature", limits_of("temperature"), rules)[0] == []
    (still,), _ = drift(late_window, medians, "temperature", limits_of("temperature"), rules, reference)
    assert still.end_ms is None
