"""Loading city files: the hand-written example loads, and every mistake is named by the path of its element."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from smartcity.city.generate import generate_city
from smartcity.city.load import MAX_PROBLEMS, CityFileError, dump_city, load_city, parse_city

DOC = Path(__file__).resolve().parents[2] / "docs" / "CITY.md"


@pytest.fixture
def example() -> dict[str, Any]:
    """The hand-written city of docs/CITY.md (its first JSON block), so the documented example stays valid."""
    block = re.search(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    data: dict[str, Any] = json.loads(block.group(1))
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(CityFileError) as caught:
        parse_city(json.dumps(data).encode(), source="hand.json")
    return caught.value.problems


def test_the_documented_example_loads(example: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(example))
    city = load_city(path)
    assert [d.id for d in city.devices] == ["pb-000001", "sl-000001"]


def test_a_generated_city_round_trips_through_its_file(tmp_path: Path) -> None:
    city = generate_city(devices=800, seed=4)
    path = tmp_path / "city.json"
    path.write_bytes(dump_city(city))
    assert load_city(path) == city
    assert path.read_bytes().count(b"\n") > 800  # one element per line: diffable


def test_a_missing_file_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_city(tmp_path / "nowhere.json")


def test_a_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CityFileError, match="cannot read the file"):
        load_city(tmp_path)


def test_bad_json_names_line_and_column() -> None:
    with pytest.raises(CityFileError, match=r"not valid JSON: .*line 2 column") as caught:
        parse_city(b'{"name": "x",\n  oops}', source="broken.json")
    assert str(caught.value).startswith("broken.json: 1 problem:")


def test_pydantic_errors_name_the_element_and_say_what_to_do(example: dict[str, Any]) -> None:
    example["devices"][1]["facility_id"] = "Street_1"
    example["devices"][0]["colour"] = "red"
    del example["districts"][0]["population"]
    example["devices"][1]["network"] = "wifi"
    problems = _problems(example)
    assert "districts[0] (centre).population: required field is missing" in problems
    assert any(p.startswith("devices[0] (pb-000001).colour: unknown field (allowed: id, type,") for p in problems)
    assert any(
        p.startswith("devices[1] (sl-000001).facility_id: must be a lower-case slug") and "'Street_1'" in p
        for p in problems
    )
    assert any(
        p.startswith("devices[1] (sl-000001).network: input should be 'broadband' or 'narrowband'") for p in problems
    )


def test_nested_paths_are_spelled_out(example: dict[str, Any]) -> None:
    example["districts"][0]["polygon"][2]["lat"] = 123.0
    assert _problems(example) == [
        "districts[0] (centre).polygon[2].lat: input should be less than or equal to 90; got 123.0"
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["devices"][0].update(facility_id="cp-0099"),
            "devices[0] (pb-000001).facility_id: unknown facility 'cp-0099'",
        ),
        (
            lambda c: c["devices"][0].update(district_id="harbour"),
            "devices[0] (pb-000001).district_id: unknown district 'harbour'",
        ),
        (
            lambda c: c["facilities"][1].update(district_id="north"),
            "facilities[1] (st-0001).district_id: unknown district 'north'",
        ),
        (
            lambda c: c["devices"][1].update(id="pb-000001"),
            "devices[1] (pb-000001).id: duplicate id, first used by devices[0]",
        ),
        (
            lambda c: c["devices"][1].update(ipv6=c["devices"][0]["ipv6"]),
            "devices[1] (sl-000001).ipv6: fd12:3456:789a:1:8d3e:51c2:a07f:19b4 is already used by devices[0] "
            "(pb-000001)",
        ),
        (
            lambda c: c["devices"][0].update(ipv6="fd12:3456:789a:2::17"),
            "devices[0] (pb-000001).ipv6: fd12:3456:789a:2::17 is outside fd12:3456:789a:1::/64, the prefix of "
            "district 'centre'",
        ),
        (
            lambda c: c["devices"][0].update(ipv6="fd12:3456:789a:1::"),
            "devices[0] (pb-000001).ipv6: fd12:3456:789a:1:: uses a reserved interface id (RFC 5453)",
        ),
        (
            lambda c: c["districts"][0].update(prefix="fd99::/64"),
            "districts[0] (centre).prefix: fd99::/64 is outside the city's fd12:3456:789a::/48",
        ),
        (
            lambda c: c["districts"][0].update(prefix="fd12:3456:789a:100::/56"),
            "districts[0] (centre).prefix: must be a /64, got fd12:3456:789a:100::/56",
        ),
        (
            lambda c: c.update(json.loads(json.dumps(c).replace('"fd12:', '"fc12:'))),
            "ula_prefix: must be a locally assigned unique local prefix inside fd00::/8, got fc12:3456:789a::/48",
        ),
        (
            lambda c: c["devices"][0].update(radio=None),
            "devices[0] (pb-000001).radio: a narrowband device needs a radio profile (one of lorawan_sf12, "
            "lorawan_sf7, nbiot)",
        ),
        (
            lambda c: c["devices"][1].update(radio="nbiot"),
            "devices[1] (sl-000001).radio: a broadband device has no radio profile: remove it, or set network to "
            "narrowband",
        ),
        (
            lambda c: c["districts"][0]["polygon"].pop(),
            "districts[0] (centre).polygon: ring is not closed: the last point must repeat the first (51.99, 4.98)",
        ),
    ],
)
def test_cross_reference_errors(example: dict[str, Any], mutate: Any, expected: str) -> None:
    mutate(example)
    assert _problems(example) == [expected]


def test_a_device_in_another_district_than_its_facility(example: dict[str, Any]) -> None:
    north = copy.deepcopy(example["districts"][0]) | {"id": "north", "prefix": "fd12:3456:789a:2::/64"}
    example["districts"].append(north)
    example["devices"][0] |= {"district_id": "north", "ipv6": "fd12:3456:789a:2::42"}
    assert _problems(example) == [
        "devices[0] (pb-000001).district_id: 'north' differs from district 'centre' of its facility 'cp-0001'"
    ]


def test_all_problems_are_listed_together_and_capped(example: dict[str, Any]) -> None:
    template = example["devices"][0]
    example["devices"] = [
        template | {"id": f"pb-{n:06d}", "facility_id": "cp-0099", "ipv6": f"fd12:3456:789a:1::{n:x}"}
        for n in range(1, MAX_PROBLEMS + 21)
    ]
    with pytest.raises(CityFileError) as caught:
        parse_city(json.dumps(example).encode(), source="many.json")
    assert len(caught.value.problems) == MAX_PROBLEMS + 20
    text = str(caught.value)
    assert text.startswith(f"many.json: {MAX_PROBLEMS + 20} problems:")
    assert text.endswith("... and 20 more")
    assert text.count("unknown facility 'cp-0099'") == MAX_PROBLEMS


def test_city_file_error_is_a_value_error() -> None:
    # components catch ValueError around load_city to print the message
    assert issubclass(CityFileError, ValueError)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c.update(timezone="Europe/Amsterdm"),
            "timezone: not an IANA time zone name such as 'Europe/Berlin' or 'UTC'; got 'Europe/Amsterdm'",
        ),
        (
            lambda c: c.update(timezone="localtime"),
            "timezone: not an IANA time zone name such as 'Europe/Berlin' or 'UTC'; got 'localtime'",
        ),
        (
            lambda c: c["facilities"][1].update(floor_area_m2=-5),
            "facilities[1] (st-0001).floor_area_m2: input should be greater than 0; got -5",
        ),
        (
            lambda c: c.update(departments=[{"id": "roads", "name": "Roads", "facility_kinds": ["bridge"]}]),
            "departments[0] (roads).facility_kinds[0]: input should be 'school', 'hospital', 'nursing_home', "
            "'library', 'public_building', 'street_segment', 'park' or 'car_park'; got 'bridge'",
        ),
    ],
)
def test_model_errors_of_the_version_2_fields(example: dict[str, Any], mutate: Any, expected: str) -> None:
    mutate(example)
    assert _problems(example) == [expected]


def _departments(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    owners = {"kinds": ["car_park", "street_segment"], "metrics": ["occupied", "lamp_on", "dim_level", "lamp_power"]}
    vitals = ["battery", "rssi", "report_interval"]
    base = {"id": "transport", "name": "Transport", "facility_kinds": owners["kinds"], "metrics": owners["metrics"]}
    return [base | {"metrics": [*owners["metrics"], *vitals]}, *extra]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"id": "energy", "name": "Energy", "metrics": ["enrgy"]},
            "departments[1] (energy).metrics[0]: unknown metric 'enrgy'",
        ),
        (
            {"id": "works", "name": "Works", "facility_kinds": ["car_park"]},
            "departments[1] (works).facility_kinds[0]: 'car_park' is already owned by department 'transport'",
        ),
        (
            {"id": "works", "name": "Works", "metrics": ["rssi"]},
            "departments[1] (works).metrics[0]: 'rssi' is already owned by department 'transport'",
        ),
        (
            {"id": "transport", "name": "Roads"},
            "departments[1] (transport).id: duplicate id, first used by departments[0]",
        ),
    ],
)
def test_department_errors_name_the_element(example: dict[str, Any], extra: dict[str, Any], expected: str) -> None:
    example["departments"] = _departments(extra)
    assert _problems(example) == [expected]


def test_what_the_city_uses_needs_an_owner(example: dict[str, Any]) -> None:
    example["departments"] = [{"id": "parking", "name": "Parking", "facility_kinds": ["car_park"]}]
    problems = _problems(example)
    assert "departments: no department owns facility kind 'street_segment' (used by facilities[1] (st-0001))" in (
        problems
    )
    assert (
        "departments: no department owns metric 'occupied' (reported by devices[0] (pb-000001), a parking_bay)"
        in problems
    )


def test_only_buildings_have_a_floor_area(example: dict[str, Any]) -> None:
    example["facilities"][0]["floor_area_m2"] = 1200.0
    assert _problems(example) == ["facilities[0] (cp-0001).floor_area_m2: a car_park is not a building; remove it"]
