"""The catalogue on the real app and influxd: filters, geometry, pagination, ETags, and what each role sees."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient

from services.api.keys import Role
from services.api.settings import ApiSettings
from smartcity.health import MEASUREMENT
from smartcity.influx.lineprotocol import encode_point
from smartcity.settings import InfluxSettings
from tests.support.api_support import DEVICES, api_settings, auth, create_key, running


def _write_health(influx: InfluxSettings, now_ms: int) -> None:
    # Two gateway replicas each saw part of aq-n1's sequence 0..99: 0-59 and 70-99, so 60..69 are lost (10 gaps).
    tags = {"device": "aq-n1", "device_type": "air_quality", "district": "north", "facility": "school-n"}
    common = {
        "first_seq": 0,
        "run_start_ms": now_ms - 600_000,
        "last_ts_ms": now_ms - 1000,
        "last_seen_ms": now_ms - 1000,
    }
    lines = [
        encode_point(
            MEASUREMENT,
            tags | {"replica": "gw-a"},
            common | {"seen": 60, "last_seq": 59, "ranges": "0-59", "online": True, "status_ms": now_ms - 5000},
            now_ms,
        ),
        encode_point(
            MEASUREMENT,
            tags | {"replica": "gw-b"},
            common | {"first_seq": 70, "seen": 30, "last_seq": 99, "ranges": "70-99"},
            now_ms,
        ),
    ]
    response = httpx.post(
        f"{influx.url}/write", params={"db": influx.database, "precision": "ms"}, content="\n".join(lines)
    )
    assert response.status_code == 204, response.text


@pytest.fixture
def settings(tmp_path: Path, influx_settings: InfluxSettings) -> ApiSettings:
    _write_health(influx_settings, int(time.time() * 1000))
    return api_settings(tmp_path, influx_settings)


@pytest.fixture
def client(settings: ApiSettings) -> Iterator[TestClient]:
    with running(settings) as client:
        yield client


def _ids(response: httpx2.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_districts_with_geometry_and_as_geojson(client: TestClient) -> None:
    body = client.get("/v1/districts").json()
    north = body["items"][0]
    assert (north["id"], north["facilities"], north["devices"]) == ("north", 3, 4)
    assert north["polygon"][0] == north["polygon"][-1]
    assert "prefix" not in north  # the address plan is not public
    geo = client.get("/v1/districts", params={"format": "geojson"})
    assert geo.headers["content-type"] == "application/geo+json"
    feature = geo.json()["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["geometry"]["coordinates"][0][1] == [7.0, 50.05]  # lon, lat
    assert client.get("/v1/districts/south").json()["population"] == 15_000


def test_facility_filters(client: TestClient) -> None:
    assert _ids(client.get("/v1/facilities", params={"kind": "school"})) == ["school-n", "school-s"]
    assert _ids(client.get("/v1/facilities", params={"district": "north"})) == ["school-n", "park-n", "street-n"]
    # street-n is assigned to north but lies outside its (triangular) polygon
    assert _ids(client.get("/v1/facilities", params={"within": "north"})) == ["school-n", "park-n"]
    near = client.get("/v1/facilities", params={"near": "50.044,7.019", "radius_m": 3000}).json()["items"]
    assert [f["id"] for f in near] == ["park-n", "school-n"]  # nearest first; street-n is 4.5 km away
    assert near[0]["distance_m"] < near[1]["distance_m"] <= 3000
    bad = client.get("/v1/facilities", params={"near": "95,7"})
    assert bad.status_code == 422
    assert bad.json()["invalid_params"][0]["name"] == "query.near"


def test_cursor_pagination_walks_every_device_once(client: TestClient) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/v1/devices", params=params).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [ident for ident, *_rest in DEVICES]
    foreign = client.get("/v1/devices", params={"limit": 3, "type": "air_quality", "cursor": "eyJvIjozLCJxIjoieCJ9"})
    assert foreign.status_code == 422
    too_many = client.get("/v1/devices", params={"limit": 100_000})
    assert too_many.status_code == 422
    assert too_many.json()["invalid_params"][0]["name"] == "query.limit"


def test_etag_and_if_none_match(client: TestClient) -> None:
    first = client.get("/v1/facilities", params={"kind": "school"})
    etag = first.headers["etag"]
    again = client.get("/v1/facilities", params={"kind": "school"}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get("/v1/facilities", params={"kind": "park"}, headers={"If-None-Match": etag})
    assert other.status_code == 200


def test_public_sees_no_addresses_planner_sees_health(client: TestClient, settings: ApiSettings) -> None:
    public = client.get("/v1/devices/aq-n1").json()
    assert not {"ipv6", "firmware", "online", "gaps"} & set(public)
    planner = auth(create_key(settings, Role.PLANNER))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        detail = client.get("/v1/devices/aq-n1", headers=planner).json()
        if "gaps" in detail:
            break
        time.sleep(0.1)
    assert detail["ipv6"] == "fd12:3456:789a:1::1"
    assert (detail["online"], detail["gaps"]) == (True, 10)
    assert detail["loss"] == pytest.approx(10 / 100)
    # device health in full is for operators
    assert client.get("/v1/devices/aq-n1/health", headers=planner).status_code == 403
    operator = auth(create_key(settings, Role.OPERATOR))
    health = client.get("/v1/devices/aq-n1/health", headers=operator).json()
    assert (health["readings"], health["gaps"], health["replicas"]) == (90, 10, ["gw-a", "gw-b"])
    assert client.get("/v1/devices/aq-n2/health", headers=operator).status_code == 404


def test_a_key_scoped_to_a_district_sees_only_it(client: TestClient, settings: ApiSettings) -> None:
    south = auth(create_key(settings, Role.PLANNER, ("south",)))
    assert _ids(client.get("/v1/districts", headers=south)) == ["south"]
    assert _ids(client.get("/v1/facilities", headers=south)) == ["school-s", "carpark-s"]
    for path in ("/v1/districts/north", "/v1/facilities/school-n", "/v1/devices/aq-n1"):
        assert client.get(path, headers=south).status_code == 404
    assert client.get("/v1/latest", params={"district": "north"}, headers=south).status_code == 404
    assert client.get("/v1/history", params={"device": "aq-n1", "metric": "pm25"}, headers=south).status_code == 404
    assert client.get("/v1/facilities", params={"district": "north"}, headers=south).status_code == 404


def test_roles_401_403(client: TestClient, settings: ApiSettings) -> None:
    no_key = client.get("/v1/latest", params={"device": "aq-n1"})
    assert no_key.status_code == 401
    assert no_key.headers["www-authenticate"].startswith("Bearer")
    bad_key = client.get("/v1/latest", params={"device": "aq-n1"}, headers=auth("sck_000000000000_" + "A" * 43))
    assert bad_key.status_code == 401
    planner = auth(create_key(settings, Role.PLANNER))
    assert client.get("/v1/keys", headers=planner).status_code == 403
    admin = auth(create_key(settings, Role.ADMIN))
    created = client.post("/v1/keys", json={"role": "operator", "name": "ops"}, headers=admin)
    assert created.status_code == 201
    new_key = created.json()["key"]
    assert client.get("/v1/health/devices", headers=auth(new_key)).status_code == 200
    assert new_key not in client.get("/v1/keys", headers=admin).text  # shown once, never listed
    revoked = client.delete(f"/v1/keys/{created.json()['key_id']}", headers=admin)
    assert revoked.json()["revoked"] is not None
    assert client.get("/v1/health/devices", headers=auth(new_key)).status_code == 401


def test_public_requests_are_rate_limited(tmp_path: Path, influx_settings: InfluxSettings) -> None:
    settings = api_settings(tmp_path, influx_settings, public_rate_per_s=0.5, public_burst=3)
    with running(settings) as client:
        answers = [client.get("/v1/metrics") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert int(answers[-1].headers["retry-after"]) >= 1
        assert answers[-1].headers["content-type"] == "application/problem+json"
        # a key is not rate-limited
        key = auth(create_key(settings, Role.PLANNER))
        assert client.get("/v1/metrics", headers=key).status_code == 200


def test_metrics_catalogue(client: TestClient) -> None:
    pm25 = client.get("/v1/metrics/pm25").json()
    assert (pm25["unit"], pm25["device_types"]) == ("ug/m3", ["air_quality"])
    assert client.get("/v1/metrics/lamp_on").json()["aggregations"] == ["count"]
    assert client.get("/v1/metrics/nope").status_code == 404
