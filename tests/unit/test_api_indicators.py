"""Indicators without a store: the definitions hold to the registry, periods are checked and narrowed to whole
windows, statements carry values as bind parameters only, and every formula is computed over an in-memory twin
of the store (:class:`tests.support.api_twins.ScriptedStore`) answering roll-up rows."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.api.catalogue import CityIndex
from services.api.indicators import formulas
from services.api.indicators.compute import IndicatorRequest, compute, membership
from services.api.indicators.definitions import INDICATORS, Method, Source
from services.api.indicators.formulas import Membership
from services.api.indicators.period import Period, check_period, is_night, whole_windows
from services.api.indicators.statements import Filter, GroupBy, select, where
from services.api.problems import ApiProblem
from smartcity.city.model import FacilityKind
from smartcity.contract.metrics import METRICS
from smartcity.health import DeviceHealth
from smartcity.influx.client import JsonScalar, Series
from smartcity.rollups import DAY, LocalDays
from tests.support.api_twins import ScriptedStore
from tests.support.indicator_support import indicator_city

H = 3_600_000
INDEX = CityIndex(indicator_city())
BERLIN = LocalDays("Europe/Berlin")
T0 = 1_741_996_800_000  # 2025-03-15T00:00Z, a whole UTC hour


def _request(
    name: str, start: int, end: int, *, group_by: GroupBy = GroupBy.DISTRICT, districts: tuple[str, ...] = ()
) -> IndicatorRequest:
    period = Period((start, end), start, end, end)
    return IndicatorRequest(
        INDICATORS[name], group_by, period, database="city", timezone="Europe/Berlin", districts=districts
    )


def test_every_definition_holds_to_the_registry() -> None:
    for name, indicator in INDICATORS.items():
        assert name == indicator.name
        assert all(metric in METRICS for metric in indicator.metrics), name
        assert indicator.facility_kinds, name
        assert indicator.device_types, name
        assert (indicator.threshold is not None) == (indicator.method is Method.HOURS_ABOVE), name
        assert (indicator.source is Source.DEVICE_HEALTH) == (indicator.method is Method.DELIVERY), name
    assert INDICATORS["pm25_hours_above_who"].threshold == 15.0
    assert INDICATORS["no2_days_above_who"].threshold == 25.0
    assert INDICATORS["waste_bin_fill_level"].unit == METRICS["fill_level"].unit
    assert set(INDICATORS["energy_per_m2"].facility_kinds) == {k for k in FacilityKind if k.is_building}


def test_periods_are_refused_naming_the_limit() -> None:
    with pytest.raises(ApiProblem) as backwards:
        check_period(T0, T0, Source.HOURS)
    assert backwards.value.invalid_params[0].name == "query.start"
    with pytest.raises(ApiProblem) as long:
        check_period(T0, T0 + 94 * 24 * H, Source.HOURS)
    assert (long.value.status, long.value.kind) == (422, "period-too-long")
    assert "93 days" in long.value.detail
    assert "rp_1h" in long.value.detail
    check_period(T0, T0 + 94 * 24 * H, Source.DAYS)  # daily roll-ups allow two years
    with pytest.raises(ApiProblem, match="2200"):
        check_period(T0, 8_000_000_000_000, Source.DAYS)


def test_a_period_is_narrowed_to_whole_completed_windows() -> None:
    hours = whole_windows(T0 + 1, T0 + 10 * H - 1, Source.HOURS, BERLIN, completed=T0 + 5 * H + 7)
    assert (hours.start_ms, hours.end_ms, hours.rolled_up_to) == (T0 + H, T0 + 5 * H, T0 + 5 * H + 7)
    nothing = whole_windows(T0, T0 + 10 * H, Source.HOURS, BERLIN, completed=None)
    assert nothing.start_ms == nothing.end_ms == T0
    days = whole_windows(T0, T0 + 72 * H, Source.DAYS, BERLIN, completed=T0 + 100 * H)
    assert (days.start_ms, days.end_ms) == (T0 + 23 * H, T0 + 71 * H)  # Berlin's midnights are 23:00Z in March
    health = whole_windows(T0 + 1, T0 + 2, Source.DEVICE_HEALTH, BERLIN, completed=None)
    assert (health.start_ms, health.end_ms) == (T0 + 1, T0 + 2)


def test_night_is_23_to_7_local_time_across_daylight_saving() -> None:
    zone = ZoneInfo("Europe/Berlin")
    winter = [is_night(T0 + h * H, zone) for h in range(24)]  # UTC+1: local hour = UTC hour + 1
    assert winter == [h + 1 >= 23 or h + 1 < 7 for h in range(24)]
    summer = 1_752_537_600_000  # 2025-07-15T00:00Z, UTC+2
    assert [is_night(summer + h * H, zone) for h in range(24)] == [
        (h + 2) % 24 >= 23 or (h + 2) % 24 < 7 for h in range(24)
    ]


def test_statements_carry_values_as_bind_parameters_only() -> None:
    hostile = ("x' OR 1=1", '" ; DROP DATABASE city')
    condition, params = where(Filter(T0, T0 + H, hostile, ("school",)))
    assert (
        condition
        == 'time >= $start AND time < $end AND ("district" = $d0 OR "district" = $d1) AND ("facility_kind" = $k0)'
    )
    assert params == {
        "start": T0 * 1_000_000,
        "end": (T0 + H) * 1_000_000,
        "d0": hostile[0],
        "d1": hostile[1],
        "k0": "school",
    }
    daily = select(
        [("SUM", "pm25_sum")], '"city"."rp_1d"."air_quality"', condition, "district", tier=DAY, timezone="Europe/Berlin"
    )
    assert daily.endswith("""GROUP BY time(86400s), "district" fill(none) tz('Europe/Berlin')""")
    assert 'SUM("pm25_sum") AS "sum_pm25_sum"' in daily
    assert not any(text in daily for text in hostile)


def _series(name: str, tags: dict[str, str], columns: list[str], *rows: list[JsonScalar]) -> Series:
    return Series(name=name, tags=tags, columns=["time", *columns], values=list(rows))


async def test_hours_above_counts_group_hours_from_the_rollups() -> None:
    per_device = ["sum_pm25_sum", "sum_pm25_count", "count_pm25_count"]
    answer = [
        _series("air_quality", {"device": "aq-n1"}, per_device, [0, 1.0, 1, 2]),
        _series("air_quality", {"device": "aq-s1"}, per_device, [0, 1.0, 1, 1]),
        _series(
            "air_quality", {"district": "north"}, ["sum_pm25_sum", "sum_pm25_count"], [T0, 40.0, 2], [T0 + H, 20.0, 2]
        ),
        _series("air_quality", {"district": "south"}, ["sum_pm25_sum", "sum_pm25_count"], [T0, 10.0, 1]),
    ]
    store = ScriptedStore(answer)
    groups = await compute(store, INDEX, _request("pm25_hours_above_who", T0, T0 + 2 * H, districts=("north", "south")))
    assert [(g.group, g.value, g.windows, g.devices) for g in groups] == [("north", 1.0, 2, 1), ("south", 0.0, 1, 1)]
    ((query, params),) = store.queries
    assert 'FROM "city"."rp_1h"."air_quality"' in query
    assert 'GROUP BY time(3600s), "district" fill(none)' in query
    assert (params["d0"], params["d1"]) == ("north", "south")
    assert "north" not in query


async def test_an_empty_period_sends_no_query() -> None:
    store = ScriptedStore()
    groups = await compute(store, INDEX, _request("energy_per_m2", T0, T0))
    assert store.queries == []
    assert [(g.group, g.value) for g in groups] == [("north", None), ("south", None)]


def test_membership_follows_the_city_model_kinds_and_districts() -> None:
    members = membership(INDEX, _request("occupancy_rate", T0, T0 + H, group_by=GroupBy.FACILITY_KIND))
    assert sorted(members.device_group) == ["occ-n1", "occ-n2", "occ-s1"]  # not the car park's counters
    assert members.groups == ["school"]
    north = membership(INDEX, _request("sensor_uptime", T0, T0 + H, districts=("north",)))
    assert set(north.device_group.values()) == {"north"}


MEMBERS = Membership(
    device_group={"a": "g", "b": "g", "c": "h"},
    device_facility={"a": "f1", "b": "f1", "c": "f2"},
    facility_group={"f1": "g", "f2": "h"},
)


def test_counters_of_one_facility_are_averaged_not_added() -> None:
    devices = {
        "a": {"sum_occupancy_sum": 300.0, "sum_occupancy_count": 3.0, "count_occupancy_count": 2.0},
        "b": {"sum_occupancy_sum": 100.0, "sum_occupancy_count": 1.0, "count_occupancy_count": 1.0},
    }
    (g, h) = formulas.per_capacity(devices, MEMBERS, "occupancy", {"f1": 200, "f2": 50})
    assert (g.value, g.windows, g.devices, g.facilities) == (50.0, 3, 2, 1)  # mean 100 of 200 places
    assert (h.value, h.facilities) == (None, 0)


def test_the_peak_is_the_fullest_hour_earliest_on_a_tie() -> None:
    windows = {
        "f1": {
            T0: {"sum_occupancy_sum": 50.0, "sum_occupancy_count": 1.0},
            T0 + H: {"sum_occupancy_sum": 100.0, "sum_occupancy_count": 2.0},
        },
    }
    (g, _h) = formulas.peak_per_capacity(windows, {}, MEMBERS, "occupancy", {"f1": 100})
    assert (g.value, g.at_ms) == (50.0, T0)


def test_energy_per_floor_area_skips_buildings_without_one() -> None:
    devices = {
        "a": {"sum_energy_increase": 30.0, "count_energy_increase": 3.0},
        "c": {"sum_energy_increase": 99.0, "count_energy_increase": 3.0},
    }
    (g, h) = formulas.per_floor_area(devices, MEMBERS, "energy", {"f1": 600.0})
    assert (g.value, g.facilities) == (0.05, 1)
    assert (h.value, h.windows, h.devices) == (None, 3, 1)


def test_a_light_dark_while_switched_on_or_silent_is_not_working() -> None:
    devices = {"a": {"count_dim_level_count": 5.0}, "b": {"count_dim_level_count": 5.0}}
    dark = {"b": {"min_lamp_power_max": 0.0}, "a": {"min_lamp_power_max": 40.0}}
    (g, h) = formulas.lights_working(devices, dark, MEMBERS)
    assert (g.value, g.windows, g.devices) == (50.0, 10, 2)
    assert h.value == 0.0  # c never reported


def test_uptime_and_completeness_cap_each_device_at_what_it_promised() -> None:
    devices = {"a": {"sum_pm25_count": 200.0, "count_pm25_count": 30.0, "sum_no2_count": 120.0}, "b": {"count_x": 6.0}}
    expected = {"a": 100.0, "b": 24.0, "c": 10.0}
    (readings, _h) = formulas.expected_share(devices, MEMBERS, expected, readings=True)
    assert readings.value == pytest.approx(100 * 100 / 124)  # a capped at 100, b counted no readings
    (hours, h) = formulas.expected_share(devices, MEMBERS, {"a": 24.0, "b": 24.0, "c": 24.0}, readings=False)
    assert hours.value == pytest.approx(100 * (24 + 6) / 48)
    assert (h.value, h.devices) == (0.0, 1)


def _health(readings: int, gaps: int) -> DeviceHealth:
    return DeviceHealth("a", gaps, 0, readings, 0, readings + gaps - 1, 0, True, 0, None, ("gw",))


def test_delivery_is_the_change_over_the_period() -> None:
    (g, h) = formulas.delivery({"a": _health(90, 10)}, {"a": _health(180, 30), "b": _health(10, 0)}, MEMBERS, {"a": 2})
    assert g.value == pytest.approx(100 * 100 / 120)
    assert (g.windows, g.devices) == (2, 2)
    assert h.value is None


def test_windows_above_keeps_only_the_hours_it_is_asked_to() -> None:
    windows = {
        "g": {T0: {"sum_laeq_sum": 100.0, "sum_laeq_count": 2.0}, T0 + H: {"sum_laeq_sum": 40.0, "sum_laeq_count": 1.0}}
    }
    (g, h) = formulas.windows_above(windows, {}, MEMBERS, "laeq", 45.0, keep=lambda start: start == T0)
    assert (g.value, g.windows) == (1.0, 1)
    assert h.value is None


async def test_lights_read_reported_and_dark_hours_in_one_request() -> None:
    store = ScriptedStore(
        [
            _series("street_light", {"device": "light-n1"}, ["count_dim_level_count"], [0, 24]),
            _series("street_light", {"device": "light-n2"}, ["count_dim_level_count"], [0, 24]),
            _series("street_light", {"device": "light-n2"}, ["min_lamp_power_max"], [0, 0.0]),
        ]
    )
    groups = await compute(store, INDEX, _request("street_lights_working", T0, T0 + 24 * H))
    assert [(g.group, g.value, g.devices) for g in groups] == [("north", 50.0, 2), ("south", 0.0, 1)]
    ((query, _params),) = store.queries
    assert 'WHERE time >= $start AND time < $end AND "dim_level_min" > 0 GROUP BY "device"' in query


async def test_delivery_reads_the_health_before_start_and_before_end() -> None:
    columns = ["seen", "first_seq", "last_seq", "ranges", "last_ts_ms", "run_start_ms"]
    tags = {"device": "aq-s1", "replica": "gw"}
    store = ScriptedStore(
        [_series("device_health", tags, columns, [T0 - H, 10, 0, 9, "0-9", T0 - H, 1])],
        [_series("device_health", tags, columns, [T0 + H, 25, 0, 29, "0-9,15-29", T0 + H, 1])],
    )
    groups = await compute(store, INDEX, _request("reading_delivery", T0, T0 + 2 * H, districts=("south",)))
    assert [(g.group, g.value, g.windows) for g in groups] == [("south", 75.0, 1)]  # 15 of 20 in the period
    (first, before), (second, until) = store.queries
    assert "time < $start" in first
    assert "time < $end" in second
    assert (before["start"], until["end"], until["d0"]) == (T0 * 1_000_000, (T0 + 2 * H) * 1_000_000, "south")


def test_the_api_doc_tables_every_indicator_with_its_formula_and_source() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text(encoding="utf-8")
    section = doc.split("## Indicators\n", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(" `"): line for line in section.splitlines() if line.startswith("| `")}
    assert list(rows) == list(INDICATORS)
    for name, indicator in INDICATORS.items():
        assert f"| {indicator.unit} | {indicator.formula} |" in rows[name], name
        assert rows[name].endswith(f"| `{indicator.source.value}` |"), name
    assert "| `GET /v1/indicators/{name}` | planner |" in doc
