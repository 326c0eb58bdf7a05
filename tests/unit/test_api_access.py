"""Which department reads what, over the API's test city and grants in the real SQLite state database: ownership of
metrics and facility kinds, open data, grants by metric, by kind and for everything, expiry and revocation, the
403 that names the missing grant, and the caches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.api.access import DepartmentAccess, open_pairs
from services.api.catalogue import CityIndex
from services.api.grants import Grant, GrantStore
from services.api.indicators.definitions import INDICATORS
from services.api.problems import ApiProblem
from services.api.state import StateStore
from smartcity.city.model import FacilityKind
from tests.support.api_support import api_city

K = FacilityKind
NOW_S = 1_745_000_000.0
DAY_MS = 86_400_000


class CountingGrants(GrantStore):
    """The real store, counting how often grants are read."""

    reads = 0

    def live_to(self, department: str, now_ms: int) -> list[Grant]:
        self.reads += 1
        return super().live_to(department, now_ms)


@pytest.fixture
def grants(tmp_path: Path) -> Iterator[CountingGrants]:
    with StateStore(tmp_path / "state.sqlite") as state:
        yield CountingGrants(state.connection, state.path)


@pytest.fixture
def clock() -> list[float]:
    return [NOW_S]


@pytest.fixture
def access(grants: CountingGrants, clock: list[float]) -> DepartmentAccess:
    return DepartmentAccess(CityIndex(api_city()), grants, clock=lambda: clock[0])


def test_open_data_is_the_environment_as_measured_per_sensor() -> None:
    pairs = open_pairs()
    assert ("pm25", K.SCHOOL) in pairs
    assert ("water_level", K.PARK) in pairs
    assert ("laeq", K.STREET_SEGMENT) in pairs
    assert not {metric for metric, _kind in pairs} & {"occupancy", "occupied", "power", "energy", "dim_level"}


def test_a_department_reads_what_it_owns_by_metric_or_by_facility_kind(access: DepartmentAccess) -> None:
    assert access.missing("transport", [("occupied", K.CAR_PARK), ("vehicle_count", K.SCHOOL)]) == []
    assert access.missing("education", [("brightness", K.SCHOOL), ("battery", K.LIBRARY)]) == []  # its facilities
    assert access.missing("education", [("pm25", K.CAR_PARK), ("laeq", K.STREET_SEGMENT)]) == []  # open
    assert access.missing("education", [("occupied", K.CAR_PARK), ("dim_level", K.STREET_SEGMENT)]) == [
        ("occupied", K.CAR_PARK),
        ("dim_level", K.STREET_SEGMENT),
    ]
    assert access.missing(None, [("occupied", K.CAR_PARK)]) == []  # the city's own key
    assert access.missing("unknown-department", [("pm25", K.PARK), ("power", K.SCHOOL)]) == [("power", K.SCHOOL)]


def test_the_refusal_names_the_grants_that_would_allow_it(access: DepartmentAccess) -> None:
    with pytest.raises(ApiProblem) as refused:
        access.require("education", [("occupied", K.CAR_PARK)])
    assert refused.value.status == 403
    assert refused.value.kind == "grant-required"
    detail = refused.value.detail
    assert "'occupied' at car_park facilities" in detail
    assert "--from transport --to education --metrics occupied" in detail
    assert "--from transport --to education --facility-kinds car_park" in detail
    many = [(metric, K.STREET_SEGMENT) for metric in ("lamp_on", "dim_level", "lamp_power", "rssi", "battery")]
    with pytest.raises(ApiProblem, match="and 2 more"):
        access.require("education", many)
    access.require("operations", many)  # its metrics: no refusal


def test_grants_by_metric_by_kind_and_for_everything(access: DepartmentAccess, grants: GrantStore) -> None:
    end_ms = int(NOW_S * 1000) + DAY_MS
    street_light = [("dim_level", K.STREET_SEGMENT), ("lamp_power", K.PARK)]
    assert access.missing("education", street_light) == street_light
    grants.add("operations", "education", end_ms, metrics=("dim_level",))
    assert access.missing("education", street_light) == [("lamp_power", K.PARK)]
    grants.add("transport", "education", end_ms, facility_kinds=(K.STREET_SEGMENT,))
    assert access.missing("education", [("lamp_power", K.STREET_SEGMENT), ("lamp_power", K.PARK)]) == [
        ("lamp_power", K.PARK)
    ]
    grants.add("operations", "education", end_ms)  # everything operations owns
    assert access.missing("education", [("lamp_power", K.PARK), ("co2", K.PUBLIC_BUILDING)]) == []
    assert access.missing("health", street_light) == street_light  # grants are to one department
    assert access.missing("education", [("power", K.HOSPITAL)]) == [("power", K.HOSPITAL)]


def test_an_expired_grant_stops_counting_at_its_expiry(
    access: DepartmentAccess, grants: CountingGrants, clock: list[float]
) -> None:
    pair = [("occupied", K.CAR_PARK)]
    grants.add("transport", "education", int(NOW_S * 1000) + 10_000, metrics=("occupied",))
    assert access.missing("education", pair) == []
    clock[0] = NOW_S + 9.9
    assert access.missing("education", pair) == []
    clock[0] = NOW_S + 10.0  # nothing changed in the database: the cached reach ends at the expiry itself
    assert access.missing("education", pair) == pair


def test_a_revoked_grant_stops_counting_at_the_next_check(access: DepartmentAccess, grants: CountingGrants) -> None:
    pair = [("occupied", K.CAR_PARK)]
    grant = grants.add("transport", "education", int(NOW_S * 1000) + DAY_MS, metrics=("occupied",))
    assert access.missing("education", pair) == []
    grants.revoke(grant.grant_id)
    assert access.missing("education", pair) == pair


def test_the_reach_is_kept_until_the_grants_change(access: DepartmentAccess, grants: CountingGrants) -> None:
    for _ in range(100):
        access.missing("education", [("occupied", K.CAR_PARK)])
    assert grants.reads == 1
    grants.add("transport", "education", int(NOW_S * 1000) + DAY_MS)
    access.missing("education", [("occupied", K.CAR_PARK)])
    assert grants.reads == 2


def test_a_grant_counts_only_for_what_its_granter_owns_now(access: DepartmentAccess, grants: GrantStore) -> None:
    # Written by hand, or before the city file gave the metric to another department: transport owns no power.
    grants.add("transport", "education", int(NOW_S * 1000) + DAY_MS, metrics=("power",))
    assert access.missing("education", [("power", K.CAR_PARK)]) == [("power", K.CAR_PARK)]


def test_a_selection_holds_the_pairs_its_devices_report(access: DepartmentAccess) -> None:
    index = CityIndex(api_city())
    south = index.selection("district", "south")
    assert south is not None
    pairs = access.selection_pairs(south, None)
    assert ("occupied", K.CAR_PARK) in pairs
    assert ("brightness", K.SCHOOL) in pairs
    assert ("pm25", K.SCHOOL) in pairs
    assert access.selection_pairs(south, "occupied") == {("occupied", K.CAR_PARK)}
    assert access.selection_pairs(south, "occupied") is access.selection_pairs(south, "occupied")  # kept
    device = index.selection("device", "aq-s1")
    assert device is not None
    assert access.selection_pairs(device, "occupied") == frozenset()
    assert access.districts_pairs(None, "dim_level") == {("dim_level", K.STREET_SEGMENT)}
    assert access.districts_pairs(frozenset({"south"}), "dim_level") == frozenset()


def test_indicators_need_the_pairs_they_read_values_of(access: DepartmentAccess) -> None:
    peak = INDICATORS["car_park_peak_occupancy"]
    assert access.indicator_pairs(peak, peak.facility_kinds) == frozenset()  # no occupancy counter in the city
    lights = INDICATORS["street_lights_working"]
    assert access.indicator_pairs(lights, lights.facility_kinds) == {
        ("dim_level", K.STREET_SEGMENT),
        ("lamp_power", K.STREET_SEGMENT),
    }
    assert access.indicator_pairs(lights, (K.PARK,)) == frozenset()
    uptime = INDICATORS["sensor_uptime"]
    assert access.indicator_pairs(uptime, uptime.facility_kinds) == frozenset()  # counts readings only
