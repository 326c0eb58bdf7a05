"""Grants in the real SQLite state database: what may be granted, expiries, the store, its change counter, the
migration that gives older key tables their department column, and ``smartcity api grants``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from services.api.grants import MAX_GRANT_DAYS, GrantError, GrantStore, check_grant, parse_expiry
from services.api.keys import Role
from services.api.state import StateStore
from services.cli import register
from smartcity.city.departments import default_departments
from smartcity.city.model import FacilityKind
from tests.support.api_support import write_api_city

NOW_MS = 1_745_000_000_000
DAY_MS = 86_400_000
DEPARTMENTS = default_departments()
runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "expires_ms"),
    [
        ("90d", NOW_MS + 90 * DAY_MS),
        ("12h", NOW_MS + 12 * 3_600_000),
        ("2w", NOW_MS + 14 * DAY_MS),
        ("30m", NOW_MS + 30 * 60_000),
        ("P30D", NOW_MS + 30 * DAY_MS),
        ("PT12H", NOW_MS + 12 * 3_600_000),
        ("P1DT2H", NOW_MS + DAY_MS + 2 * 3_600_000),
        ("2025-06-30T00:00:00Z", 1_751_241_600_000),
        ("2025-06-30T02:00:00+02:00", 1_751_241_600_000),
        ("2025-06-30", 1_751_241_600_000),  # a date means its start, UTC
    ],
)
def test_an_expiry_is_a_time_or_a_duration_from_now(text: str, expires_ms: int) -> None:
    assert parse_expiry(text, NOW_MS) == expires_ms


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2020-01-01T00:00:00Z", "past"),
        ("0d", "past"),
        (f"{MAX_GRANT_DAYS + 1}d", "at most"),
        ("forever", "not an ISO 8601 time"),
        ("P", "not an ISO 8601 time"),
        ("PT", "not an ISO 8601 time"),
        ("3 days", "not an ISO 8601 time"),
    ],
)
def test_a_bad_expiry_is_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(GrantError, match=says):
        parse_expiry(text, NOW_MS)


def test_a_grant_covers_only_what_the_granter_owns() -> None:
    assert check_grant(DEPARTMENTS, "transport", "education", ["vehicle_count", "occupied", "occupied"]) == (
        ("occupied", "vehicle_count"),
        (),
    )
    assert check_grant(DEPARTMENTS, "education", "health", (), ["school"]) == ((), (FacilityKind.SCHOOL,))
    assert check_grant(DEPARTMENTS, "energy", "education") == ((), ())  # everything energy owns
    refused = [
        (("parks", "education"), "--from 'parks': not a department"),
        (("transport", "nobody"), "--to 'nobody': not a department"),
        (("transport", "transport"), "both 'transport'"),
        (("transport", "education", ["occupied"], ["car_park"]), "not both"),
        (("transport", "education", ["pm25"]), "transport does not own it"),
        (("transport", "education", ["nothing"]), "not a metric"),
        (("transport", "education", (), ["school"]), "transport does not own it"),
        (("transport", "education", (), ["castle"]), "not a facility kind"),
    ]
    for args, says in refused:
        with pytest.raises(GrantError, match=says):
            check_grant(DEPARTMENTS, *args)  # type: ignore[arg-type]


def test_the_store_adds_lists_revokes_and_answers_live_grants(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.sqlite") as state:
        grants = GrantStore(state.connection, state.path)
        assert grants.version() == 0
        kept = grants.add("transport", "education", NOW_MS + DAY_MS, metrics=("occupied",), now_ms=NOW_MS)
        short = grants.add("energy", "education", NOW_MS + 1000, now_ms=NOW_MS + 1)
        other = grants.add("education", "health", NOW_MS + DAY_MS, facility_kinds=(FacilityKind.SCHOOL,))
        assert [g.grant_id for g in grants.list()] == [kept.grant_id, short.grant_id, other.grant_id]
        assert grants.get(kept.grant_id) == kept
        assert {g.grant_id for g in grants.live_to("education", NOW_MS)} == {kept.grant_id, short.grant_id}
        assert [g.grant_id for g in grants.live_to("education", NOW_MS + 1000)] == [kept.grant_id]  # expired
        assert short.status(NOW_MS + 1000) == "expired"
        version = grants.version()
        revoked = grants.revoke(kept.grant_id, now_ms=NOW_MS + 5)
        assert revoked is not None
        assert revoked.revoked_ms == NOW_MS + 5
        assert revoked.status(NOW_MS) == "revoked"
        assert grants.version() > version
        again = grants.revoke(kept.grant_id, now_ms=NOW_MS + 9)
        assert again is not None
        assert again.revoked_ms == NOW_MS + 5  # revoking twice keeps the first time
        assert grants.revoke("000000000000") is None
        assert grants.live_to("education", NOW_MS) == [short]
        assert other.scope == "facility kinds school"
        assert short.scope == "everything"


def test_a_change_made_by_hand_moves_the_version_too(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with StateStore(path) as state:
        grants = GrantStore(state.connection, state.path)
        grant = grants.add("transport", "education", NOW_MS + DAY_MS)
        before = grants.version()
        with sqlite3.connect(path) as other:
            other.execute("UPDATE grants SET expires_ms = ? WHERE grant_id = ?", (NOW_MS + 2 * DAY_MS, grant.grant_id))
        assert grants.version() == before + 1
        with sqlite3.connect(path) as other:
            other.execute("DELETE FROM grants")
        assert grants.version() == before + 2
        assert grants.list() == []


def test_an_older_key_table_gains_the_department_column_and_its_keys_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as old:  # the table as the first version shipped it
        old.execute(
            "CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, digest TEXT NOT NULL, role TEXT NOT NULL,"
            " districts TEXT NOT NULL, name TEXT NOT NULL, created_ms INTEGER NOT NULL, revoked_ms INTEGER)"
        )
        old.execute("INSERT INTO api_keys VALUES ('0123456789ab', 'digest', 'planner', '[]', 'old', 1, NULL)")
    with StateStore(path) as store:
        found = store.find("0123456789ab")
        assert found is not None
        assert found[0].department is None  # the city's own key
        assert found[0].role is Role.PLANNER
        record, _key = store.create(Role.PLANNER, (), "new", "transport")
        stored = store.find(record.key_id)
        assert stored is not None
        assert stored[0] == record
        assert record.department == "transport"
    with StateStore(path) as again:  # opening a migrated database changes nothing
        assert [r.department for r in again.list()] == [None, "transport"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMARTCITY_API_CITY_FILE", str(write_api_city(tmp_path / "city.json")))
    monkeypatch.setenv("SMARTCITY_API_STATE_FILE", str(tmp_path / "state.sqlite"))
    return tmp_path / "state.sqlite"


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_grants_add_list_revoke(env: Path) -> None:
    args = ["api", "grants", "add", "--from", "transport", "--to", "education", "--expires", "30d"]
    added = runner.invoke(_cli(), [*args, "--metrics", "occupied,vehicle_count"])
    assert added.exit_code == 0, added.output
    grant_id = added.stdout.strip().splitlines()[-1]
    assert "education reads metrics occupied,vehicle_count of transport" in added.stderr
    listed = runner.invoke(_cli(), ["api", "grants", "list"])
    line = next(row for row in listed.output.splitlines() if grant_id in row)
    assert "active" in line
    assert "metrics occupied,vehicle_count" in line
    assert runner.invoke(_cli(), ["api", "grants", "revoke", grant_id]).exit_code == 0
    line = next(row for row in runner.invoke(_cli(), ["api", "grants", "list"]).output.splitlines() if grant_id in row)
    assert "revoked" in line
    assert runner.invoke(_cli(), ["api", "grants", "revoke", "000000000000"]).exit_code == 1
    with StateStore(env) as state:
        assert [g.grant_id for g in GrantStore(state.connection, state.path).list()] == [grant_id]


def test_grants_add_refuses_what_the_city_does_not_allow_with_exit_2(env: Path) -> None:
    base = ["api", "grants", "add", "--to", "education"]
    for args, says in [
        (["--from", "transport", "--expires", "yesterday"], "not an ISO 8601 time"),
        (["--from", "transport", "--expires", "30d", "--metrics", "pm25"], "does not own"),
        (["--from", "moon", "--expires", "30d"], "not a department"),
    ]:
        result = runner.invoke(_cli(), [*base, *args])
        assert result.exit_code == 2, result.output
        assert says in result.stderr
    with StateStore(env) as state:
        assert GrantStore(state.connection, state.path).list() == []


def test_keys_create_takes_a_department_of_the_city(env: Path) -> None:
    created = runner.invoke(_cli(), ["api", "keys", "create", "--role", "planner", "--department", "transport"])
    assert created.exit_code == 0, created.output
    assert "department transport" in created.stderr
    unknown = runner.invoke(_cli(), ["api", "keys", "create", "--role", "planner", "--department", "moon"])
    assert unknown.exit_code == 2
    assert "unknown department 'moon'" in unknown.stderr
    city_key = runner.invoke(_cli(), ["api", "keys", "create", "--role", "admin"])
    assert "the city's own" in city_key.stderr
    with StateStore(env) as store:
        assert sorted(str(r.department) for r in store.list()) == ["None", "transport"]
