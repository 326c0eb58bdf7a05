"""Version-1 city files still load: upgraded in memory with documented defaults, and rewritten on request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from smartcity.city.catalogue import FACILITIES
from smartcity.city.cli import app
from smartcity.city.departments import default_departments
from smartcity.city.generate import generate_city
from smartcity.city.load import dump_city, load_city, parse_city
from smartcity.city.model import DEFAULT_TIMEZONE, SCHEMA_VERSION, FacilityKind

runner = CliRunner()


def _version_1(devices: int = 300) -> dict[str, Any]:
    """A generated city as version 1 wrote it: no time zone, departments or floor areas."""
    data: dict[str, Any] = json.loads(dump_city(generate_city(devices=devices, seed=5)))
    data["schema_version"] = 1
    del data["timezone"], data["departments"]
    for facility in data["facilities"]:
        del facility["floor_area_m2"]
    return data


def test_a_version_1_file_loads_with_defaults() -> None:
    city = parse_city(json.dumps(_version_1()).encode())
    assert (city.schema_version, city.upgraded_from) == (SCHEMA_VERSION, 1)
    assert city.timezone == DEFAULT_TIMEZONE
    assert city.departments == default_departments()
    for facility in city.facilities:
        per_unit = FACILITIES[facility.kind].floor_m2
        if per_unit is None:
            assert facility.floor_area_m2 is None, facility
        else:
            assert facility.capacity is not None
            assert facility.floor_area_m2 == round(facility.capacity * sum(per_unit) / 2), facility


def test_a_current_file_is_not_upgraded() -> None:
    city = generate_city(devices=50, seed=5)
    assert parse_city(dump_city(city)).upgraded_from is None


def test_validate_says_it_was_upgraded_and_upgrade_rewrites_it(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_version_1()))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"upgraded from schema version 1 to {SCHEMA_VERSION}" in result.output
    result = runner.invoke(app, ["upgrade", str(path)])
    assert result.exit_code == 0, result.output
    upgraded = load_city(path)
    assert upgraded.upgraded_from is None
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert "upgraded" not in runner.invoke(app, ["validate", str(path)]).output


def test_an_upgraded_building_without_capacity_has_no_floor_area() -> None:
    data = _version_1()
    school = next(f for f in data["facilities"] if f["kind"] == FacilityKind.SCHOOL)
    school["capacity"] = school["capacity_unit"] = None
    city = parse_city(json.dumps(data).encode())
    assert next(f for f in city.facilities if f.id == school["id"]).floor_area_m2 is None
