"""The data life cycle on the real API over the real influxd: ``DELETE /v1/devices/{id}`` drops a device's series
from every retention policy (raw and roll-ups) but the environmental history the policy keeps, is for admins
only and is audited; ``/v1/grants`` makes, lists and revokes grants in the CLI's store, and they take effect."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import typer
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from services.api.keys import Role
from services.api.settings import ApiSettings
from services.api.state import StateStore
from services.cli import register
from smartcity.city.credentials import device_password, write_credentials
from smartcity.city.load import load_city
from smartcity.contract.reading import Reading
from smartcity.localservices import MosquittoProcess
from smartcity.settings import InfluxSettings
from tests.support.api_support import api_city, api_settings, auth, influxql, running, write_readings

NOW_MS = int(time.time() * 1000) // 60_000 * 60_000
BASE_MS = NOW_MS - 2 * 3_600_000
HOUR_MS = 3_600_000
POLICIES = ("autogen", "rp_1m", "rp_1h", "rp_1d")
OCCUPIED = {"metric": "occupied", "device": "park-s1", "resolution": "raw"} | {
    "start": (BASE_MS - 60_000) / 1000,
    "end": (NOW_MS + 60_000) / 1000,
}


@dataclass
class City:
    client: TestClient
    settings: ApiSettings
    keys: dict[str, dict[str, str]]

    def series(self, device: str) -> dict[str, set[str]]:
        """Retention policy -> measurements holding points of ``device``."""
        found: dict[str, set[str]] = {}
        for policy in POLICIES:
            statement = f'SELECT * FROM "{self.settings.influx.database}"."{policy}"./.*/ WHERE "device" = $d'
            answer = influxql(self.settings.influx, statement, {"d": device}).json()
            names = {s["name"] for result in answer["results"] for s in result.get("series", [])}
            if names:
                found[policy] = names
        return found

    def audit(self, route: str, count: int) -> list[dict[str, object]]:
        deadline = time.monotonic() + 5
        while True:
            page = self.client.get("/v1/audit", params={"route": route}, headers=self.keys["city-admin"])
            assert page.status_code == 200, page.text
            items: list[dict[str, object]] = page.json()["items"]
            if len(items) >= count or time.monotonic() > deadline:
                return items
            time.sleep(0.05)


def _lines(device: str, measurement: str, field: str, times: range) -> bytes:
    return "\n".join(f"{measurement},device={device} {field}=1 {ts}" for ts in times).encode()


KEYS: dict[str, tuple[Role, str | None, tuple[str, ...]]] = {
    "city-admin": (Role.ADMIN, None, ()),
    "operator": (Role.OPERATOR, None, ()),
    "planner": (Role.PLANNER, None, ()),
    "education": (Role.PLANNER, "education", ()),
    "education-admin": (Role.ADMIN, "education", ()),
    "north-admin": (Role.ADMIN, None, ("north",)),
}
ROLLED_UP = (("park-s1", "parking"), ("aq-n1", "air_quality"), ("aq-n1", "device_vitals"), ("aq-n2", "air_quality"))


@pytest.fixture
def city(tmp_path: Path, influx_settings: InfluxSettings) -> Iterator[City]:
    readings = [
        Reading("park-s1", n, BASE_MS + n * 900_000, {"occupied": n % 2 == 0, "battery": 90.0}) for n in range(6)
    ]
    readings += [Reading("aq-n1", n, BASE_MS + n * 60_000, {"pm25": 10.0 + n, "battery": 80.0}) for n in range(5)]
    readings += [Reading("aq-n2", n, BASE_MS + n * 60_000, {"pm25": 5.0}) for n in range(3)]
    write_readings(influx_settings, readings)
    db = influx_settings.database
    hours = range(BASE_MS, NOW_MS, HOUR_MS)
    with httpx.Client(base_url=influx_settings.url, trust_env=False, timeout=30.0) as client:
        for policy in POLICIES[1:]:
            created = influxql(
                influx_settings, f'CREATE RETENTION POLICY "{policy}" ON "{db}" DURATION 0s REPLICATION 1'
            )
            assert "error" not in created.text, created.text
            for device, measurement in ROLLED_UP:
                body = _lines(device, measurement, "x_count", hours)
                answer = client.post("/write", params={"db": db, "rp": policy, "precision": "ms"}, content=body)
                assert answer.status_code == 204, answer.text
        for device in ("park-s1", "aq-n1"):
            health = _lines(device, "device_health", "readings", hours)
            assert client.post("/write", params={"db": db, "precision": "ms"}, content=health).status_code == 204
        flag = f"quality_flag,device=park-s1,kind=offline score=2.0,end_ms=0i {BASE_MS}".encode()
        assert client.post("/write", params={"db": db, "precision": "ms"}, content=flag).status_code == 204
    settings = api_settings(tmp_path, influx_settings)
    keys = {}
    with StateStore(settings.state_file) as store:
        for name, (role, department, districts) in KEYS.items():
            keys[name] = auth(store.create(role, districts, name, department)[1])
    with running(settings) as client:
        yield City(client, settings, keys)


def test_decommissioning_drops_a_devices_series_from_every_retention_policy(city: City) -> None:
    assert set(city.series("park-s1")) == set(POLICIES)
    latest = {"device": "park-s1"}
    deadline = time.monotonic() + 5
    while not city.client.get("/v1/latest", params=latest, headers=city.keys["planner"]).json()["items"]:
        assert time.monotonic() < deadline, "the latest values never arrived"
        time.sleep(0.05)
    answer = city.client.delete("/v1/devices/park-s1", headers=city.keys["city-admin"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["removed_measurements"] == ["dead_letters", "device_health", "device_vitals", "parking", "quality_flag"]
    assert body["kept_measurements"] == []
    assert (body["broker_account"], body["city_file"]) == ("unmanaged", "unchanged")
    # parking (raw, with every registry tag), parking (the roll-up lines here carry only the device tag),
    # device_vitals, device_health and quality_flag: series belong to the database, all policies together
    assert body["removed_series"] == 5
    assert city.series("park-s1") == {}
    assert city.series("aq-n2") == {policy: {"air_quality"} for policy in POLICIES}  # others untouched
    after = city.client.get("/v1/latest", params=latest, headers=city.keys["planner"])
    assert after.status_code == 200, after.text
    assert after.json()["items"] == []  # the cache let go of them too
    history = city.client.get("/v1/history", params=OCCUPIED, headers=city.keys["planner"])
    assert history.status_code == 200, history.text
    assert history.json()["points"] == []
    again = city.client.delete("/v1/devices/park-s1", headers=city.keys["city-admin"])
    assert again.status_code == 200, again.text
    assert again.json()["removed_series"] == 0
    records = city.audit("/v1/devices/{device_id}", 2)
    assert [(r["method"], r["params"], r["rows"], r["status"]) for r in records] == [
        ("DELETE", '{"device_id":"park-s1"}', 0, 200),
        ("DELETE", '{"device_id":"park-s1"}', 5, 200),
    ]


def test_decommissioning_keeps_environmental_history_as_the_policy_says(city: City) -> None:
    answer = city.client.delete("/v1/devices/aq-n1", headers=city.keys["city-admin"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["kept_measurements"] == ["air_quality"]
    assert "air_quality" not in answer.json()["removed_measurements"]
    assert city.series("aq-n1") == {policy: {"air_quality"} for policy in POLICIES}


def test_decommissioning_without_keeping_environmental_history(tmp_path: Path, influx_settings: InfluxSettings) -> None:
    write_readings(influx_settings, [Reading("aq-n1", 1, BASE_MS, {"pm25": 3.0})])
    settings = api_settings(tmp_path, influx_settings, decommission_keeps_environmental=False)
    with StateStore(settings.state_file) as store:
        key = auth(store.create(Role.ADMIN, (), "admin")[1])
    with running(settings) as client:
        answer = client.delete("/v1/devices/aq-n1", headers=key)
        assert answer.status_code == 200, answer.text
        assert "air_quality" in answer.json()["removed_measurements"]
        assert answer.json()["removed_series"] == 1
    left = influxql(influx_settings, 'SELECT * FROM "air_quality" WHERE "device" = $d', {"d": "aq-n1"}).json()
    assert "series" not in left["results"][0]


def test_decommissioning_is_for_admins_and_known_devices_only(city: City) -> None:
    client, keys = city.client, city.keys
    missing = client.delete("/v1/devices/no-such-device", headers=keys["city-admin"])
    assert missing.status_code == 404
    assert missing.json()["type"] == "/problems/unknown-id"
    assert missing.headers["content-type"].startswith("application/problem+json")
    outside = client.delete("/v1/devices/park-s1", headers=keys["north-admin"])  # park-s1 is in south
    assert outside.status_code == 404
    for name in ("operator", "planner", "education"):
        refused = client.delete("/v1/devices/park-s1", headers=keys[name])
        assert refused.status_code == 403, name
        assert refused.json()["type"] == "/problems/forbidden"
    assert client.delete("/v1/devices/park-s1").status_code == 401
    other = client.delete("/v1/devices/park-s1", headers=keys["education-admin"])  # a car park: transport's
    assert other.status_code == 403
    assert "car_park is not education's" in other.json()["detail"]
    injected = client.delete('/v1/devices/park-s1" OR 1=1', headers=keys["city-admin"])
    assert injected.status_code == 404
    assert set(city.series("park-s1")) == set(POLICIES)
    own = client.delete("/v1/devices/aq-s1", headers=keys["education-admin"])  # at a school: education's
    assert own.status_code == 200, own.text


def _cli(settings: ApiSettings, *args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    env = {"SMARTCITY_API_CITY_FILE": str(settings.city_file), "SMARTCITY_API_STATE_FILE": str(settings.state_file)}
    result = CliRunner().invoke(app, ["api", *args], env=env)
    return result.exit_code, result.stdout


def test_grants_over_rest_share_the_clis_store_and_take_effect(city: City) -> None:
    client, keys = city.client, city.keys
    assert client.get("/v1/history", params=OCCUPIED, headers=keys["education"]).status_code == 403
    wanted = {"from": "transport", "to": "education", "metrics": ["occupied"], "expires": "1d"}
    made = client.post("/v1/grants", json=wanted, headers=keys["city-admin"])
    assert made.status_code == 201, made.text
    grant = made.json()
    assert (grant["from"], grant["to"], grant["metrics"], grant["state"]) == (
        "transport",
        "education",
        ["occupied"],
        "active",
    )
    assert client.get("/v1/history", params=OCCUPIED, headers=keys["education"]).status_code == 200
    listed = client.get("/v1/grants", headers=keys["city-admin"])
    assert [g["grant_id"] for g in listed.json()] == [grant["grant_id"]]
    code, out = _cli(city.settings, "grants", "list")
    assert code == 0
    assert grant["grant_id"] in out
    assert "active" in out
    assert client.get("/v1/grants", headers=keys["education-admin"]).json()[0]["grant_id"] == grant["grant_id"]

    revoked = client.delete(f"/v1/grants/{grant['grant_id']}", headers=keys["city-admin"])
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    assert client.get("/v1/history", params=OCCUPIED, headers=keys["education"]).status_code == 403
    code, out = _cli(city.settings, "grants", "list")
    assert "revoked" in out
    records = city.audit("/v1/grants", 2)
    assert {(r["method"], r["status"]) for r in records} >= {("POST", 201), ("GET", 200)}
    assert city.audit("/v1/grants/{grant_id}", 1)[0]["method"] == "DELETE"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"from": "nobody", "to": "education", "expires": "1d"}, "body.from", "not a department"),
        ({"from": "transport", "to": "transport", "expires": "1d"}, "body.from", "both"),
        ({"from": "transport", "to": "education", "expires": "yesterday"}, "body.expires", "ISO 8601"),
        ({"from": "transport", "to": "education", "expires": "2001-01-01"}, "body.expires", "past"),
        ({"from": "transport", "to": "education", "expires": "900d"}, "body.expires", "731 days"),
        ({"from": "transport", "to": "education", "expires": "1d", "metrics": ["pm25"]}, "body.metrics", "own"),
        (
            {"from": "transport", "to": "education", "expires": "1d", "facility_kinds": ["moon"]},
            "body.facility_kinds",
            "not a facility kind",
        ),
        ({"from": "transport", "to": "education"}, "body.expires", "required"),
        ({"from": "transport", "to": "education", "expires": "1d", "extra": 1}, "body.extra", ""),
    ],
)
def test_bad_grants_get_problems_naming_the_field(city: City, body: dict[str, object], field: str, words: str) -> None:
    answer = city.client.post("/v1/grants", json=body, headers=city.keys["city-admin"])
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/invalid-parameters"
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in [param["name"] for param in problem["invalid_params"]], problem
    assert words.lower() in problem["detail"].lower() + str(problem["invalid_params"]).lower()
    assert city.client.get("/v1/grants", headers=city.keys["city-admin"]).json() == []


def test_grants_are_for_admins_and_a_department_admin_grants_its_own_data_only(city: City) -> None:
    client, keys = city.client, city.keys
    body = {"from": "transport", "to": "education", "expires": "1d"}
    for name in ("planner", "operator", "education"):
        assert client.get("/v1/grants", headers=keys[name]).status_code == 403
        assert client.post("/v1/grants", json=body, headers=keys[name]).status_code == 403
    assert client.get("/v1/grants").status_code == 401
    refused = client.post("/v1/grants", json=body, headers=keys["education-admin"])
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/forbidden"
    made = client.post("/v1/grants", json=body, headers=keys["city-admin"]).json()
    assert client.delete(f"/v1/grants/{made['grant_id']}", headers=keys["education-admin"]).status_code == 403
    assert client.delete("/v1/grants/000000000000", headers=keys["city-admin"]).status_code == 404
    assert client.delete("/v1/grants/not-an-id", headers=keys["city-admin"]).status_code == 422
    own = client.post(
        "/v1/grants", json=body | {"from": "education", "to": "transport"}, headers=keys["education-admin"]
    )
    assert own.status_code == 201, own.text


def _session(broker: MosquittoProcess, device: str, events: list[str]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{device}-live", protocol=mqtt.MQTTv5)
    client.username_pw_set(device, device_password(SECRET, device))
    client.on_connect = lambda c, u, flags, rc, props: events.append(f"connack {rc.value}")
    client.on_disconnect = lambda c, u, flags, rc, props: events.append("disconnected")
    client.reconnect_delay_set(60, 60)
    client.connect("::1", broker.port)
    client.loop_start()
    return client


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


SECRET = b"lifecycle-test-deployment-secret"


def test_decommissioning_revokes_the_broker_account_and_leaves_the_city_file(
    city: City, tmp_path: Path, mosquitto_factory: Callable[..., MosquittoProcess]
) -> None:
    files = write_credentials(api_city(), SECRET, tmp_path / "auth")
    broker = mosquitto_factory(password_file=files.password_file, acl_file=files.acl_file)
    pid_file = tmp_path / "mosquitto.pid"
    pid_file.write_text(f"{broker.pid}\n", encoding="utf-8")
    settings = city.settings.model_copy(
        update={
            "broker_password_file": files.password_file,
            "broker_pid_file": pid_file,
            "decommission_edits_city": True,
            "city_reload_s": 0.1,
        }
    )
    events: list[str] = []
    live = _session(broker, "park-s1", events)
    _until(lambda: events == ["connack 0"], "park-s1 connects")
    try:
        with running(settings) as client:
            answer = client.delete("/v1/devices/park-s1", headers=city.keys["city-admin"])
            assert answer.status_code == 200, answer.text
            assert (answer.json()["broker_account"], answer.json()["city_file"]) == ("revoked", "removed")
            _until(lambda: events == ["connack 0", "disconnected"], "the broker closes park-s1's session")
            assert "park-s1:" not in files.password_file.read_text()
            assert "aq-n1:" in files.password_file.read_text()
            assert files.password_file.stat().st_mode & 0o777 == 0o600
            assert "park-s1" not in {d.id for d in load_city(settings.city_file).devices}
            assert city.series("park-s1") == {}
            _until(lambda: client.get("/v1/devices/park-s1").status_code == 404, "the API forgets park-s1")
            assert client.delete("/v1/devices/park-s1", headers=city.keys["city-admin"]).status_code == 404
        refused: list[str] = []
        _session(broker, "park-s1", refused).loop_stop()
        _until(lambda: bool(refused) and refused[0] != "connack 0", "park-s1 is refused")
    finally:
        live.loop_stop()


def test_a_broker_that_cannot_be_told_stops_the_decommissioning_before_any_data_goes(
    city: City, tmp_path: Path
) -> None:
    files = write_credentials(api_city(), SECRET, tmp_path / "auth")
    settings = city.settings.model_copy(
        update={"broker_password_file": files.password_file, "broker_pid_file": tmp_path / "no-such.pid"}
    )
    with running(settings) as client:
        answer = client.delete("/v1/devices/park-s1", headers=city.keys["city-admin"])
    assert answer.status_code == 503, answer.text
    assert answer.json()["type"] == "/problems/decommission-incomplete"
    assert "repeat the request" in answer.json()["detail"]
    assert set(city.series("park-s1")) == set(POLICIES)  # nothing dropped
