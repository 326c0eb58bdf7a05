"""``smartcity api``: settings refused by variable name (exit 2), and ``keys create|list|revoke``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from services.api.keys import key_id_of, matches
from services.api.state import StateStore
from services.cli import register
from tests.support.api_support import write_api_city

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "SMARTCITY_API_CITY_FILE": str(write_api_city(tmp_path / "city.json")),
        "SMARTCITY_API_STATE_FILE": str(tmp_path / "state.sqlite"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_an_unknown_variable_is_refused_with_the_closest_name(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTCITY_API_MAX_POINT", "10")
    result = runner.invoke(_app(), ["api"])
    assert result.exit_code == 2
    assert "SMARTCITY_API_MAX_POINT: not a setting (did you mean SMARTCITY_API_MAX_POINTS?)" in result.output


def test_a_bad_value_is_named_by_its_variable(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_API_MAX_POINTS", "5")
    result = runner.invoke(_app(), ["api", "keys", "list"])
    assert result.exit_code == 2
    assert "SMARTCITY_API_MAX_POINTS" in result.output


def test_a_missing_city_file_exits_2(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMARTCITY_API_CITY_FILE", str(tmp_path / "nowhere.json"))
    result = runner.invoke(_app(), ["api"])
    assert result.exit_code == 2
    assert "SMARTCITY_API_CITY_FILE" in result.output


def test_keys_create_list_revoke(env: dict[str, str]) -> None:
    created = runner.invoke(
        _app(), ["api", "keys", "create", "--role", "planner", "--district", "north", "--name", "bus"]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    key_id = key_id_of(key)
    assert key_id is not None
    with StateStore(Path(env["SMARTCITY_API_STATE_FILE"])) as store:
        found = store.find(key_id)
    assert found is not None
    assert found[0].districts == ("north",)
    assert matches(key, found[1])
    listed = runner.invoke(_app(), ["api", "keys", "list"])
    assert key_id in listed.output
    assert key not in listed.output
    assert runner.invoke(_app(), ["api", "keys", "revoke", key_id]).exit_code == 0
    line = next(row for row in runner.invoke(_app(), ["api", "keys", "list"]).output.splitlines() if key_id in row)
    assert len(re.findall(r"\d{4}-\d\d-\d\dT", line)) == 2  # created and revoked
    assert runner.invoke(_app(), ["api", "keys", "revoke", "000000000000"]).exit_code == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--role", "public"], "--role must be planner, operator or admin"),
        (["--role", "planner", "--district", "atlantis"], "unknown district(s) atlantis"),
    ],
)
def test_keys_create_refuses_bad_options(env: dict[str, str], arguments: list[str], message: str) -> None:
    result = runner.invoke(_app(), ["api", "keys", "create", *arguments])
    assert result.exit_code == 2
    assert message in result.output
