"""Departments, grants and audit on the real API over the real influxd: a department reads another's data only
through a grant (``smartcity api grants``), its revocation stops it at once, open and owned data need none, the
audit records every request made with a key with the right fields, and ``smartcity api audit verify`` catches a
record edited or deleted with sqlite3."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.api.grants import GrantStore
from services.api.keys import Role
from services.api.settings import ApiSettings
from services.api.state import StateStore
from services.cli import register
from smartcity.contract.reading import Reading
from smartcity.settings import InfluxSettings
from tests.support.api_server import serving
from tests.support.api_support import api_settings, auth, running, write_readings

runner = CliRunner()
NOW_MS = int(time.time() * 1000) // 60_000 * 60_000
BASE_MS = NOW_MS - 2 * 3_600_000
"""Two hours ago: inside the latest window, so /v1/latest has values too."""
PARKING = [(BASE_MS + n * 900_000, n % 3 == 0) for n in range(8)]
WINDOW: dict[str, str | float] = {
    "start": (BASE_MS - 60_000) / 1000,
    "end": (NOW_MS + 60_000) / 1000,
    "resolution": "raw",
}
OCCUPIED: dict[str, str | float] = WINDOW | {"metric": "occupied", "device": "park-s1"}


@dataclass
class City:
    client: TestClient
    settings: ApiSettings
    keys: dict[str, dict[str, str]]
    key_ids: dict[str, str]

    def cli(self, *args: str) -> tuple[int, str, str]:
        app = typer.Typer()
        register(app)
        env = {"SMARTCITY_API_CITY_FILE": str(self.settings.city_file)}
        env["SMARTCITY_API_STATE_FILE"] = str(self.settings.state_file)
        result = runner.invoke(app, ["api", *args], env=env)
        return result.exit_code, result.stdout, result.stderr

    def audit(self, **params: str | int) -> list[dict[str, object]]:
        """Every audit record matching ``params``, through the pages, once the writer has flushed them."""
        items: list[dict[str, object]] = []
        cursor: str | None = None
        while True:
            query = params | ({"cursor": cursor} if cursor else {})
            page = self.client.get("/v1/audit", params=query, headers=self.keys["city-admin"])
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return items


def _flushed(city: City, key: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while True:
        found = city.audit(key=city.key_ids[key])
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def city(tmp_path: Path, influx_settings: InfluxSettings) -> Iterator[City]:
    readings = [Reading("park-s1", n, ts, {"occupied": value}) for n, (ts, value) in enumerate(PARKING)]
    readings += [Reading("aq-n1", n, BASE_MS + n * 60_000, {"pm25": 10.0 + n}) for n in range(5)]
    readings += [Reading("display-s1", n, BASE_MS + n * 600_000, {"brightness": 40 + n}) for n in range(3)]
    readings += [Reading("light-n1", n, BASE_MS + n * 300_000, {"dim_level": 50}) for n in range(4)]
    write_readings(influx_settings, readings)
    settings = api_settings(tmp_path, influx_settings)
    wanted = {
        "education": (Role.PLANNER, "education"),
        "transport": (Role.PLANNER, "transport"),
        "operations": (Role.PLANNER, "operations"),
        "city-planner": (Role.PLANNER, None),
        "city-admin": (Role.ADMIN, None),
        "education-admin": (Role.ADMIN, "education"),
    }
    keys, ids = {}, {}
    with StateStore(settings.state_file) as store:
        for name, (role, department) in wanted.items():
            record, key = store.create(role, (), name, department)
            keys[name], ids[name] = auth(key), record.key_id
    with running(settings) as client:
        yield City(client, settings, keys, ids)


def _refused(answer_status: int, body: dict[str, object]) -> str:
    assert answer_status == 403, body
    assert body["type"] == "/problems/grant-required"
    return str(body["detail"])


def test_a_grant_lets_a_department_read_another_ones_data_and_its_revocation_stops_it(city: City) -> None:
    client, keys = city.client, city.keys
    own = client.get("/v1/history", params=OCCUPIED, headers=keys["transport"])
    assert own.status_code == 200, own.text
    assert len(own.json()["points"]) == len(PARKING)
    refused = client.get("/v1/history", params=OCCUPIED, headers=keys["education"])
    detail = _refused(refused.status_code, refused.json())
    assert "--from transport --to education --metrics occupied" in detail
    latest_occupied = {"device": "park-s1", "metric": "occupied"}
    latest = client.get("/v1/latest", params=latest_occupied, headers=keys["education"])
    _refused(latest.status_code, latest.json())

    code, out, err = city.cli("grants", "add", "--from", "transport", "--to", "education", "--metrics", "occupied")
    assert code == 2  # an expiry is required
    code, out, err = city.cli(
        "grants", "add", "--from", "transport", "--to", "education", "--metrics", "occupied", "--expires", "1d"
    )
    assert code == 0, err
    grant_id = out.strip()
    granted = client.get("/v1/history", params=OCCUPIED, headers=keys["education"])
    assert granted.status_code == 200, granted.text
    assert granted.json()["points"] == own.json()["points"]
    deadline = time.monotonic() + 5
    while (
        not (items := client.get("/v1/latest", params=latest_occupied, headers=keys["education"])).json().get("items")
    ):
        assert time.monotonic() < deadline, items.text
        time.sleep(0.1)
    assert {item["metric"] for item in items.json()["items"]} == {"occupied"}
    vitals = client.get("/v1/latest", params={"device": "park-s1"}, headers=keys["education"])
    assert "'battery' at car_park facilities" in _refused(vitals.status_code, vitals.json())  # whole answers only
    assert client.get("/v1/history", params=OCCUPIED, headers=keys["operations"]).status_code == 403  # not theirs

    code, out, err = city.cli("grants", "revoke", grant_id)
    assert code == 0, err
    again = client.get("/v1/history", params=OCCUPIED, headers=keys["education"])
    _refused(again.status_code, again.json())
    assert client.get("/v1/latest", params=latest_occupied, headers=keys["education"]).status_code == 403
    assert client.get("/v1/history", params=OCCUPIED, headers=keys["city-planner"]).status_code == 200
    code, out, err = city.cli("grants", "list")
    assert f"{grant_id}" in out
    assert "revoked" in out


def test_open_and_owned_data_need_no_grant_and_whole_answers_are_refused_not_cut(city: City) -> None:
    client, education = city.client, city.keys["education"]
    pm25 = client.get("/v1/history", params=WINDOW | {"metric": "pm25", "device": "aq-n1"}, headers=education)
    assert pm25.status_code == 200, pm25.text  # air quality is open data
    assert len(pm25.json()["points"]) == 5
    brightness = WINDOW | {"metric": "brightness", "facility": "school-s"}
    assert client.get("/v1/history", params=brightness, headers=education).status_code == 200  # its own school
    dim = client.get("/v1/history", params=WINDOW | {"metric": "dim_level", "device": "light-n1"}, headers=education)
    assert "--from operations --to education --metrics dim_level" in _refused(dim.status_code, dim.json())
    assert client.get("/v1/latest", params={"facility": "school-s"}, headers=education).status_code == 200
    south = client.get("/v1/latest", params={"district": "south"}, headers=education)
    assert "'occupied' at car_park facilities" in _refused(south.status_code, south.json())
    lights = client.get("/v1/indicators/street_lights_working", headers=education)
    _refused(lights.status_code, lights.json())
    assert client.get("/v1/indicators/street_lights_working", headers=city.keys["operations"]).status_code == 200
    assert client.get("/v1/indicators/sensor_uptime", headers=education).status_code == 200  # counts readings only
    stream = client.get("/v1/stream", params={"metric": "occupied"}, headers=education)
    _refused(stream.status_code, stream.json())


def test_the_audit_records_each_access_with_its_fields(city: City) -> None:
    client, keys = city.client, city.keys
    before_ms = int(time.time() * 1000)
    assert client.get("/v1/history", params=OCCUPIED, headers=keys["transport"]).status_code == 200
    assert client.get("/v1/history", params=OCCUPIED, headers=keys["education"]).status_code == 403
    assert client.get("/v1/history", params=OCCUPIED | {"extra": "x"}, headers=keys["education"]).status_code == 422
    assert client.get("/v1/districts").status_code == 200  # public: not audited
    after_ms = int(time.time() * 1000)
    (transport,) = _flushed(city, "transport", 1)
    assert transport["key_id"] == city.key_ids["transport"]
    assert transport["department"] == "transport"
    assert (transport["method"], transport["route"], transport["status"]) == ("GET", "/v1/history", 200)
    assert transport["rows"] == len(PARKING)
    params = json.loads(str(transport["params"]))
    assert params == {k: str(v) for k, v in OCCUPIED.items()}
    stamp = datetime.fromisoformat(str(transport["time"]).replace("Z", "+00:00")).timestamp() * 1000
    assert before_ms <= stamp <= after_ms
    unknown_param, refused = _flushed(city, "education", 2)  # newest first
    assert (refused["status"], refused["rows"], refused["department"]) == (403, None, "education")
    assert unknown_param["status"] == 422  # refused before the route ran, audited all the same
    assert all(item["key_id"] in city.key_ids.values() for item in city.audit())

    every = city.audit(limit=2)
    seqs = [int(str(item["seq"])) for item in every]
    assert len(set(seqs)) == len(seqs) >= 3
    assert seqs == sorted(seqs, reverse=True)
    assert city.audit(route="/v1/history", department="education") == [unknown_param, refused]
    exported = client.get("/v1/audit", params={"format": "csv"}, headers=keys["city-admin"])
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    exported_seqs = [int(row["seq"]) for row in rows]
    assert exported_seqs == sorted(exported_seqs)  # chain order
    assert {item["hash"] for item in every} <= {row["hash"] for row in rows}
    only = client.get(
        "/v1/audit", params={"format": "csv", "key": city.key_ids["transport"]}, headers=keys["city-admin"]
    )
    (row,) = csv.DictReader(io.StringIO(only.text))
    assert (int(row["seq"]), row["hash"], row["rows"], row["department"]) == (
        transport["seq"],
        transport["hash"],
        str(len(PARKING)),
        "transport",
    )

    assert client.get("/v1/audit", headers=keys["transport"]).status_code == 403  # admins only
    scoped = client.get("/v1/audit", headers=keys["education-admin"])
    assert scoped.status_code == 200
    assert {item["department"] for item in scoped.json()["items"]} == {"education"}
    other = client.get("/v1/audit", params={"department": "transport"}, headers=keys["education-admin"])
    assert other.status_code == 403
    assert other.headers["content-type"] == "application/problem+json"
    bad = client.get("/v1/audit", params={"cursor": "nonsense"}, headers=keys["city-admin"])
    assert bad.status_code == 422
    assert bad.json()["invalid_params"][0]["name"] == "query.cursor"


def test_keys_of_a_department_through_the_api(city: City) -> None:
    client, admin = city.client, city.keys["city-admin"]
    created = client.post("/v1/keys", json={"role": "planner", "department": "transport"}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["department"] == "transport"
    assert client.post("/v1/keys", json={"role": "planner", "department": "moon"}, headers=admin).status_code == 422
    scoped = client.post(
        "/v1/keys", json={"role": "planner", "department": "transport"}, headers=city.keys["education-admin"]
    )
    assert scoped.status_code == 403
    listed = {item["key_id"]: item["department"] for item in client.get("/v1/keys", headers=admin).json()}
    assert listed[city.key_ids["city-planner"]] is None
    assert listed[created.json()["key_id"]] == "transport"


def test_verify_catches_a_record_edited_or_deleted_with_sqlite3(city: City) -> None:
    for _ in range(4):
        assert city.client.get("/v1/history", params=OCCUPIED, headers=city.keys["transport"]).status_code == 200
    records = _flushed(city, "transport", 4)
    assert len(records) == 4
    code, out, err = city.cli("audit", "verify")
    assert code == 0, err
    assert out.startswith("intact:")
    target = int(str(records[1]["seq"]))
    with sqlite3.connect(city.settings.state_file) as db:
        db.execute("UPDATE audit SET rows = rows + 1 WHERE seq = ?", (target,))
    code, out, err = city.cli("audit", "verify")
    assert code == 1
    assert f"broken at record {target}: its content does not match its hash" in err
    with sqlite3.connect(city.settings.state_file) as db:
        db.execute("UPDATE audit SET rows = rows - 1 WHERE seq = ?", (target,))
    assert city.cli("audit", "verify")[0] == 0
    with sqlite3.connect(city.settings.state_file) as db:
        db.execute("DELETE FROM audit WHERE seq = ?", (target,))
    code, out, err = city.cli("audit", "verify")
    assert code == 1
    assert f"broken at record {target}: record {target} missing before record {target + 1}" in err


async def test_a_revoked_grant_ends_an_open_stream_before_the_next_value(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    now = int(time.time() * 1000)
    write_readings(influx_settings, [Reading("park-s1", 0, now - 60_000, {"occupied": True})])
    settings = api_settings(tmp_path, influx_settings, stream_keepalive_s=0.5)
    with StateStore(settings.state_file) as store:
        key = store.create(Role.PLANNER, (), "education team", "education")[1]
        grants = GrantStore(store.connection, store.path)
        grant = grants.add("transport", "education", now + 86_400_000, metrics=("occupied",))
        async with (
            serving(settings) as served,
            httpx.AsyncClient(base_url=served.base_url, headers=auth(key)) as client,
        ):
            async with asyncio.timeout(10):
                while served.state.latest.refreshed_ms is None:  # noqa: ASYNC110  # the cache has no event for it
                    await asyncio.sleep(0.02)
            params = {"district": "south", "metric": "occupied"}
            async with client.stream("GET", "/v1/stream", params=params) as response:
                assert response.status_code == 200
                lines = response.aiter_lines()
                async with asyncio.timeout(5):
                    while not (line := await anext(lines)).startswith("data:"):
                        pass
                assert json.loads(line.removeprefix("data:"))["device"] == "park-s1"
                grants.revoke(grant.grant_id)
                newer = [Reading("park-s1", 1, now, {"occupied": False})]
                await asyncio.to_thread(write_readings, influx_settings, newer)
                async with asyncio.timeout(5):
                    rest = [line async for line in lines]  # the stream ends
                assert not [line for line in rest if line.startswith("data:")]  # the newer value never left
            refused = await client.get("/v1/stream", params=params)
            assert refused.status_code == 403
