"""The city generator: deterministic, exact, realistic, and always valid."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from smartcity.city.catalogue import FACILITIES, NETWORKS
from smartcity.city.generate import generate_city
from smartcity.city.geography import contains
from smartcity.city.load import dump_city, validate_city
from smartcity.city.model import DEFAULT_TIMEZONE, City, DeviceType, FacilityKind, NetworkClass
from smartcity.contract.topics import TopicKind, TopicScheme

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(devices=5_000, seed=11)


def test_same_arguments_give_the_same_bytes() -> None:
    first = dump_city(generate_city(devices=1_500, seed=3, name="Twin"))
    second = dump_city(generate_city(devices=1_500, seed=3, name="Twin"))
    assert first == second


def test_another_seed_gives_another_city() -> None:
    a, b = generate_city(devices=500, seed=1), generate_city(devices=500, seed=2)
    assert a.ula_prefix != b.ula_prefix
    assert [d.ipv6 for d in a.devices] != [d.ipv6 for d in b.devices]
    assert [d.centre for d in a.districts] != [d.centre for d in b.districts]


@pytest.mark.parametrize("devices", [1, 7, 100, 999, 2_345])
def test_device_count_is_met_exactly(devices: int) -> None:
    city = generate_city(devices=devices, seed=5)
    assert len(city.devices) == devices
    validate_city(city)


def test_generated_city_passes_validation(city: City) -> None:
    validate_city(city)


def test_every_facility_kind_and_device_type_is_present(city: City) -> None:
    assert {f.kind for f in city.facilities} == set(FacilityKind)
    assert {d.type for d in city.devices} == set(DeviceType)


def test_device_types_fit_their_facility_kind(city: City) -> None:
    kind_of = {f.id: f.kind for f in city.facilities}
    for device in city.devices:
        profile = FACILITIES[kind_of[device.facility_id]]
        assert device.type in {*profile.per_facility, *profile.per_capacity}, device


def test_parking_bays_are_in_car_parks_and_on_streets(city: City) -> None:
    kind_of = {f.id: f.kind for f in city.facilities}
    places = Counter(kind_of[d.facility_id] for d in city.devices if d.type is DeviceType.PARKING_BAY)
    assert set(places) == {FacilityKind.CAR_PARK, FacilityKind.STREET_SEGMENT}


def test_capacity_is_set_where_it_means_something(city: City) -> None:
    units = {f.kind: f.capacity_unit for f in city.facilities}
    assert units[FacilityKind.SCHOOL] == "pupils"
    assert units[FacilityKind.HOSPITAL] == "beds"
    assert units[FacilityKind.NURSING_HOME] == "residents"
    assert units[FacilityKind.CAR_PARK] == "parking spaces"
    assert units[FacilityKind.STREET_SEGMENT] is None
    assert all((f.capacity is None) == (f.capacity_unit is None) for f in city.facilities)


def test_facility_counts_follow_population(city: City) -> None:
    population = sum(d.population for d in city.districts)
    kinds = Counter(f.kind for f in city.facilities)
    for kind, profile in FACILITIES.items():
        assert kinds[kind] == max(1, round(population / profile.inhabitants_per_facility))


def test_network_class_proportions_are_realistic(city: City) -> None:
    by_type: dict[DeviceType, Counter[NetworkClass]] = {}
    for device in city.devices:
        by_type.setdefault(device.type, Counter())[device.network] += 1
    parking = by_type[DeviceType.PARKING_BAY]
    assert parking[NetworkClass.NARROWBAND] / parking.total() > 0.85
    assert by_type[DeviceType.INFO_DISPLAY][NetworkClass.NARROWBAND] == 0
    occupancy = by_type[DeviceType.OCCUPANCY]
    assert occupancy[NetworkClass.BROADBAND] / occupancy.total() > 0.8


def test_radio_and_interval_follow_the_network_class(city: City) -> None:
    for device in city.devices:
        profile = NETWORKS[device.type]
        if device.network is NetworkClass.NARROWBAND:
            assert device.radio is not None
            assert device.report_interval_s == profile.interval_narrowband_s
        else:
            assert device.radio is None
            assert device.report_interval_s == profile.interval_broadband_s


def test_ids_are_slugs_usable_as_topic_levels(city: City) -> None:
    topics = TopicScheme()
    ids = [d.id for d in city.districts] + [f.id for f in city.facilities] + [d.id for d in city.devices]
    assert all(SLUG.match(i) for i in ids)
    for device in city.devices[:500]:
        assert topics.parse(topics.device(device.id, TopicKind.READING)).device_id == device.id
    assert re.match(r"^[a-z]{2}-\d{6}$", city.devices[0].id)


def test_districts_have_closed_polygons_around_their_centre(city: City) -> None:
    for district in city.districts:
        ring = [(p.lon, p.lat) for p in district.polygon]
        assert ring[0] == ring[-1]
        assert contains(ring, (district.centre.lon, district.centre.lat)), district.id
        assert district.bbox.contains(district.centre)
        assert district.population > 0


def test_district_count_can_be_chosen() -> None:
    city = generate_city(devices=300, seed=1, districts=45)
    assert len(city.districts) == 45
    assert len({d.id for d in city.districts}) == 45
    validate_city(city)


@pytest.mark.parametrize(
    ("devices", "districts", "message"),
    [
        (0, None, "devices must be between 1"),
        (10, 0, "districts must be between 1"),
        (10, 5_000, "districts must be between 1"),
    ],
)
def test_bad_arguments_are_refused(devices: int, districts: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_city(devices=devices, seed=1, districts=districts)


def test_buildings_have_a_floor_area_in_their_kind_range(city: City) -> None:
    for facility in city.facilities:
        per_unit = FACILITIES[facility.kind].floor_m2
        if not facility.kind.is_building:
            assert facility.floor_area_m2 is None, facility
            continue
        assert per_unit is not None
        assert facility.capacity is not None
        assert facility.floor_area_m2 is not None
        low, high = facility.capacity * per_unit[0] - 5, facility.capacity * per_unit[1] + 5
        assert low <= facility.floor_area_m2 <= high, facility


def test_time_zone_defaults_and_can_be_chosen() -> None:
    assert generate_city(devices=20, seed=1).timezone == DEFAULT_TIMEZONE
    city = generate_city(devices=20, seed=1, timezone="America/Chicago")
    assert city.timezone == "America/Chicago"
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone name"):
        generate_city(devices=20, seed=1, timezone="Mars/Olympus")
