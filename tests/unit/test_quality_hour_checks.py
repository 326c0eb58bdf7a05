"""The hour pass over the roll-ups: who a device's peers are (not while stuck), a drift judged hour after hour as
the worker does (its end is no drift the other way), and flat runs that the peers or the device's own resolution
explain."""

from __future__ import annotations

from services.quality.book import FlagBook
from services.quality.findings import HourStat, reading_step
from services.quality.hour_checks import drift_references, judge_hours, peer_groups
from services.quality.limits import limits_of
from services.quality.peer_checks import DriftRules, Reference, drift, peer_medians
from services.quality.settings import QualitySettings
from services.quality.value_checks import StuckRules, stuck
from smartcity.city.directory import DeviceInfo
from smartcity.city.model import DeviceType, FacilityKind, NetworkClass
from smartcity.quality_flags import Flag, FlagKind

H = 3_600_000
RULES = QualitySettings().worker_config().rules


def _info(device: str, kind: DeviceType, network: NetworkClass, facility: FacilityKind) -> DeviceInfo:
    return DeviceInfo(device, kind, "old-town", f"f-{device}", facility, network)


def _flat(value: float, hours: range, count: int = 1) -> list[HourStat]:
    return [HourStat(h * H, value, value, value, count) for h in hours]


def test_a_narrowband_and_a_broadband_counter_are_not_each_others_peers() -> None:
    """A wired counter reports each minute, a radio one every 5 minutes: five times the count per reading."""
    infos = {}
    hourly: dict[tuple[str, str], list[HourStat]] = {}
    for index in range(3):
        for network, per_reading in ((NetworkClass.BROADBAND, 10.0), (NetworkClass.NARROWBAND, 50.0)):
            device = f"tc-{network.value}-{index}"
            infos[device] = _info(device, DeviceType.TRAFFIC_COUNTER, network, FacilityKind.STREET_SEGMENT)
            hourly[(device, "vehicle_count")] = _flat(per_reading + index, range(6), count=12)
    medians = peer_groups(hourly, infos, 3)
    assert set(medians[("tc-broadband-0", "vehicle_count")].values()) == {11.0}
    assert set(medians[("tc-narrowband-0", "vehicle_count")].values()) == {51.0}


def test_a_radio_school_counter_alone_on_its_network_is_judged_against_the_wired_ones() -> None:
    """Two narrowband school counters and four broadband ones: people present mean the same whichever network
    reports them, so the radio counter reading 0 through a school day is stuck while the others fill."""
    infos = {}
    hourly: dict[tuple[str, str], list[HourStat]] = {}
    day = [0.0] * 7 + [600.0] * 9 + [0.0] * 8  # a school day: open from 07:00 to 16:00
    for index in range(6):
        network = NetworkClass.NARROWBAND if index < 2 else NetworkClass.BROADBAND
        device = f"oc-{index}"
        infos[device] = _info(device, DeviceType.OCCUPANCY, network, FacilityKind.SCHOOL)
        levels = [0.0] * 24 if index == 0 else day
        hourly[(device, "occupancy")] = [HourStat(h * H, v, v, v, 12) for h, v in enumerate(levels)]
    medians = peer_groups(hourly, infos, 3)
    assert medians[("oc-0", "occupancy")][10 * H] == 600.0  # the city's school counters on any network
    findings, _, _ = judge_hours(hourly, infos, RULES, {})
    (finding,) = findings["oc-0"]
    assert finding.kind is FlagKind.STUCK
    assert "while its peers moved" in finding.reason
    assert findings.get("oc-1", []) == []


def _thermometers(hours: int, onset: int, end: int) -> dict[tuple[str, str], list[HourStat]]:
    """Five thermometers; the first reads 0.3 degC more every hour from ``onset`` (up to 6 degC more, where it
    stays) until ``end``, then is right again."""
    series: dict[tuple[str, str], list[HourStat]] = {}
    for device in range(5):
        stats = []
        for h in range(hours):
            value = 12 + device * 0.3 + 0.15 * (((h * 7 + device * 13) % 11) / 5 - 1) + 3 * ((h % 24) > 12)
            if device == 0 and onset <= h < end:
                value += min(6.0, (h - onset) * 0.3)
            stats.append(HourStat(h * H, value, value - 0.4, value + 0.4, 12))
        series[(f"we-{device}", "temperature")] = stats
    return series


def test_a_drift_that_ended_is_not_followed_by_a_drift_the_other_way_as_it_leaves_the_look_back() -> None:
    hourly = _thermometers(150, onset=30, end=80)
    infos = {d: _info(d, DeviceType.WEATHER, NetworkClass.BROADBAND, FacilityKind.PARK) for d, _ in hourly}
    refs: dict[tuple[str, str], Reference] = {}
    seen: list[tuple[int, str]] = []
    for end in range(30, 150):  # hour passes, each over the 48 h before it, as the worker runs them
        window = {key: [s for s in stats if (end - 48) * H <= s.hour_ms < end * H] for key, stats in hourly.items()}
        findings, _, _ = judge_hours(window, infos, RULES, refs)
        seen += [(f.start_ms // H, f.reason) for f in findings.get("we-0", []) if f.kind is FlagKind.DRIFT]
    assert seen, "the drift is found"
    assert all("above" in reason for _, reason in seen)  # its baseline from the drift's hours would say "below"
    assert all(start < 80 for start, _ in seen)
    assert ("we-0", "temperature") not in refs  # forgotten once the drift left the look-back


def test_thermometers_stuck_yesterday_are_peers_again_today() -> None:
    """Three of five thermometers each held one value for 12 hours of the first 20; the first drifts from hour
    44: against the four that read well since, it is a drift, and the three stuck runs are stuck flags, not
    drifts."""
    hourly = _thermometers(72, onset=44, end=72)
    for device in (1, 2, 3):
        key = (f"we-{device}", "temperature")
        start, end = (device - 1) * 4 * H, ((device - 1) * 4 + 12) * H
        held = hourly[key][0].mean
        hourly[key] = [
            HourStat(h.hour_ms, held, held, held, 12) if start <= h.hour_ms < end else h for h in hourly[key]
        ]
    infos = {d: _info(d, DeviceType.WEATHER, NetworkClass.BROADBAND, FacilityKind.PARK) for d, _ in hourly}
    findings, _, _ = judge_hours(hourly, infos, RULES, {})
    (drifting,) = [f for f in findings["we-0"] if f.kind is FlagKind.DRIFT]
    assert "above" in drifting.reason
    assert 44 * H <= drifting.start_ms < 60 * H
    for index in (1, 2, 3):
        assert [f.kind for f in findings[f"we-{index}"]] == [FlagKind.STUCK]
        assert findings[f"we-{index}"][0].end_ms == (index * 4 + 8) * H


def test_reading_steps_are_read_off_the_values() -> None:
    assert reading_step(_flat(3.0, range(4))) == 1.0
    assert reading_step([*_flat(1.5, range(2)), *_flat(1.0, range(2, 4))]) == 0.5
    assert reading_step([HourStat(0, 21.3, 21.1, 21.57, 12)]) == 0.01


def test_a_hospitals_steady_water_draw_read_in_half_units_is_not_stuck() -> None:
    """Hourly readings of 1.0 l/s for a day, and 0.5 or 1.5 now and then before: the radio's half units are
    coarse for a steady draw. A meter whose readings moved by litres before holding one value is stuck."""
    before = [*_flat(1.5, range(0, 3)), *_flat(1.0, range(3, 10)), *_flat(0.5, range(10, 14))]
    steady = [*before, *_flat(1.0, range(14, 40))]
    assert stuck(steady, "water_flow", limits_of("water_flow"), StuckRules()) == []
    busy = [*[HourStat(h * H, 0.5 + (h % 6), 0.5, 0.5 + (h % 6), 1) for h in range(14)], *_flat(1.0, range(14, 40))]
    (finding,) = stuck(busy, "water_flow", limits_of("water_flow"), StuckRules())
    assert finding.kind is FlagKind.STUCK


def test_one_car_a_minute_at_night_is_explained_by_the_peers_but_not_while_they_get_busy() -> None:
    night = _flat(1.0, range(8), count=60)
    quiet_peers = {h * H: 1.0 + 0.02 * h for h in range(8)}  # their prediction moves by less than one car
    limits = limits_of("vehicle_count")
    assert stuck(night, "vehicle_count", limits, StuckRules(), expected=quiet_peers) == []
    rush = {h * H: 1.0 + 3 * h for h in range(8)}
    (finding,) = stuck(night, "vehicle_count", limits, StuckRules(), expected=rush)
    assert finding.kind is FlagKind.STUCK
    assert stuck(night, "vehicle_count", limits, StuckRules()) != []  # nothing to explain it without them


def test_one_step_of_a_coarse_meter_is_no_drift() -> None:
    """Three hospitals' meters read in half units; one reads 0.5 instead of 1.0 for a few hours."""
    series = {f"wm-{d}": _flat(1.0, range(40)) for d in range(3)}
    series["wm-0"] = [*_flat(1.0, range(30)), *_flat(0.5, range(30, 40))]
    medians = peer_medians(series, DriftRules().min_peers)
    assert drift(series["wm-0"], medians, "water_flow", limits_of("water_flow"), DriftRules())[0] == []


def test_a_restarted_worker_takes_the_references_of_the_drifts_still_in_its_look_back() -> None:
    def flag(device: str, start_h: int, end_h: int, basis: tuple[float, ...]) -> Flag:
        return Flag(device, FlagKind.DRIFT, start_h * H, "drift", 1.2, "co2", end_h * H, start_h * H, basis)

    book = FlagBook(
        [
            flag("ic-1", 10, 0, (1.0, 5.0, 20.0)),  # open
            flag("ic-2", 10, 30, (1.0, -3.0, 15.0)),  # ended 20 h ago: its hours are still in the look-back
            flag("ic-2", 40, 45, (1.0, -4.0, 15.0)),  # a later one on the same series wins
            flag("ic-3", 1, 5, (1.0, 2.0, 10.0)),  # ended before the look-back
            flag("ic-4", 10, 0, ()),  # written without a reference: judged afresh
        ]
    )
    assert drift_references(book, since_ms=20 * H) == {
        ("ic-1", "co2"): (1.0, 5.0, 20.0),
        ("ic-2", "co2"): (1.0, -4.0, 15.0),
    }


def test_a_prediction_that_stayed_elsewhere_explains_nothing() -> None:
    """A school's counter holding 200 through the night, when the city's schools predict 0 for it."""
    held = _flat(200.0, range(10), count=60)
    night = {h * H: 0.0 for h in range(10)}
    (finding,) = stuck(held, "occupancy", limits_of("occupancy"), StuckRules(), expected=night)
    assert finding.kind is FlagKind.STUCK


def test_a_meter_alone_of_its_kind_in_the_city_is_reported_as_not_judged_for_drift() -> None:
    """Three schools' meters are each other's peers; the library's is the only one at a library, on any network,
    and a lamp's power (set by its dimming) is never compared: only the library's meter is peerless."""
    infos = {}
    hourly: dict[tuple[str, str], list[HourStat]] = {}
    for device, facility in (
        ("em-1", FacilityKind.SCHOOL),
        ("em-2", FacilityKind.SCHOOL),
        ("em-3", FacilityKind.SCHOOL),
        ("em-lib", FacilityKind.LIBRARY),
    ):
        infos[device] = _info(device, DeviceType.ENERGY_METER, NetworkClass.BROADBAND, facility)
        hourly[(device, "power")] = [HourStat(h * H, 20.0 + h % 5, 19.0, 25.0, 60) for h in range(30)]
    infos["sl-1"] = _info("sl-1", DeviceType.STREET_LIGHT, NetworkClass.NARROWBAND, FacilityKind.STREET_SEGMENT)
    hourly[("sl-1", "lamp_power")] = [HourStat(h * H, 40.0, 40.0, 40.0, 4) for h in range(30)]
    verdict = judge_hours(hourly, infos, RULES, {})
    assert verdict.peerless == [("em-lib", "power")]
    assert (FlagKind.DRIFT, "power") in verdict.scopes["em-lib"]


def test_a_street_light_dimmed_by_its_operator_is_neither_drifting_nor_peerless() -> None:
    """A dim level is a setpoint: one light dimmed to 30 % from hour 30 while its peers stay at 100 % is the
    operator's command, not a sensor leaving its peers."""
    infos = {}
    hourly: dict[tuple[str, str], list[HourStat]] = {}
    for index in range(5):
        device = f"sl-{index}"
        infos[device] = _info(device, DeviceType.STREET_LIGHT, NetworkClass.NARROWBAND, FacilityKind.STREET_SEGMENT)
        levels = [30.0 if index == 0 and h >= 30 else 100.0 for h in range(48)]
        hourly[(device, "dim_level")] = [HourStat(h * H, v, v, v, 4) for h, v in enumerate(levels)]
    verdict = judge_hours(hourly, infos, RULES, {})
    assert verdict.findings["sl-0"] == []
    assert verdict.peerless == []


def test_the_air_at_the_only_monitored_school_is_compared_with_the_district_s_street_sensors() -> None:
    """One air sensor at a school, three on streets of the same district: the air is the district's whatever the
    facility, so the school's drifting NO2 is found against the streets'; a school's CO2 indoors is its own."""
    infos = {"aq-school": _info("aq-school", DeviceType.AIR_QUALITY, NetworkClass.BROADBAND, FacilityKind.SCHOOL)}
    for index in range(3):
        device = f"aq-street-{index}"
        infos[device] = _info(device, DeviceType.AIR_QUALITY, NetworkClass.BROADBAND, FacilityKind.STREET_SEGMENT)
    hourly: dict[tuple[str, str], list[HourStat]] = {}
    for n, device in enumerate(infos):
        values = [30 + 10 * ((h % 24) / 24) + n + 0.3 * ((h * 7 + n) % 5) for h in range(48)]
        if device == "aq-school":
            values = [v + max(0, h - 30) * 1.5 for h, v in enumerate(values)]  # 36 ug/m3 a day
        hourly[(device, "no2")] = [HourStat(h * H, v, v - 1, v + 1, 12) for h, v in enumerate(values)]
    verdict = judge_hours(hourly, infos, RULES, {})
    assert verdict.peerless == []
    (found,) = verdict.findings["aq-school"]
    assert (found.kind, found.metric) == (FlagKind.DRIFT, "no2")
    assert all(verdict.findings[f"aq-street-{index}"] == [] for index in range(3))
    assert limits_of("co2").ambient is False
