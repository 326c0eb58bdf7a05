"""Errors as RFC 9457 problem details, an unreachable InfluxDB, and injection strings in every parameter of every
route (never a 5xx, the database and its data intact)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from services.api.keys import Role
from smartcity.contract.reading import Reading
from smartcity.localservices import InfluxdProcess
from smartcity.settings import InfluxSettings
from tests.support.api_support import api_settings, auth, create_key, influxql, running, write_readings

INJECTIONS = [
    "'; DROP DATABASE x",
    '" OR 1=1',
    "/.*/",
    "a\nb; DROP MEASUREMENT air_quality",
    "ünïcødé ☃ 北",
    "$ident",
    "aq-n1' OR device =~ /.*/ --",
    "\\",
    "%00",
]
ROUTES: dict[str, list[str]] = {
    "/v1/districts": ["format", "limit", "cursor"],
    "/v1/facilities": ["kind", "district", "within", "near", "radius_m", "limit", "cursor"],
    "/v1/devices": ["type", "network", "facility", "district", "limit", "cursor"],
    "/v1/metrics": ["limit", "cursor"],
    "/v1/latest": ["device", "facility", "district", "metric"],
    "/v1/history": ["device", "facility", "district", "metric", "start", "end", "resolution", "agg", "format"],
    "/v1/health/devices": ["district", "limit", "cursor"],
}
PATHS = [
    "/v1/districts/{}",
    "/v1/facilities/{}",
    "/v1/devices/{}",
    "/v1/devices/{}/health",
    "/v1/metrics/{}",
    "/v1/keys/{}",
]
VALID = {"/v1/latest": {"device": "aq-n1"}, "/v1/history": {"device": "aq-n1", "metric": "pm25"}}


def _is_problem(response_json: dict[str, object], status: int) -> bool:
    return {"type", "title", "status", "detail", "instance"} <= set(response_json) and response_json["status"] == status


def test_unknown_route_and_method_and_validation_are_problem_details(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    with running(api_settings(tmp_path, influx_settings)) as client:
        for response, status in (
            (client.get("/v2/nothing"), 404),
            (client.post("/v1/districts"), 405),
            (client.get("/v1/facilities", params={"kind": "castle"}), 422),
            (client.get("/v1/devices", params={"limit": "many"}), 422),
        ):
            assert response.status_code == status
            assert response.headers["content-type"] == "application/problem+json"
            assert _is_problem(response.json(), status)
        limit = client.get("/v1/devices", params={"limit": "many"}).json()
        assert "query.limit" in limit["detail"]
        typo = client.get("/v1/facilities", params={"districts": "north"})  # silently ignored, it would list all
        assert typo.status_code == 422
        assert typo.json()["invalid_params"][0]["name"] == "query.districts"


def test_injection_strings_in_every_parameter_never_reach_influxql(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    now = int(time.time() * 1000)
    write_readings(influx_settings, [Reading("aq-n1", 1, now - 60_000, {"pm25": 9.0})])
    settings = api_settings(tmp_path, influx_settings)
    headers = auth(create_key(settings, Role.ADMIN))
    statuses: set[int] = set()
    with running(settings) as client:
        for route, names in ROUTES.items():
            for name in names:
                for text in INJECTIONS:
                    params = VALID.get(route, {}) | {name: text}
                    response = client.get(route, params=params, headers=headers)
                    assert response.status_code < 500, (route, name, text, response.text)
                    if response.status_code >= 400:
                        assert response.headers["content-type"] == "application/problem+json"
                    statuses.add(response.status_code)
        for template in PATHS:
            for text in INJECTIONS:
                response = client.get(template.format(quote(text, safe="")), headers=headers)
                assert response.status_code < 500, (template, text, response.text)
        for text in INJECTIONS:
            body = {"role": "planner", "districts": [text], "name": text}
            assert client.post("/v1/keys", json=body, headers=headers).status_code == 422
            assert client.post("/v1/keys", json={"role": text}, headers=headers).status_code == 422
            header = f"Bearer {text}".replace("\n", " ").encode()  # a header cannot carry a line break
            assert client.get("/v1/metrics", headers=[(b"Authorization", header)]).status_code == 401
        # still there: the database, the measurement and the point
        answer = client.get("/v1/history", params=VALID["/v1/history"] | {"resolution": "raw"}, headers=headers)
        assert [p["value"] for p in answer.json()["points"]] == [9.0]
    assert statuses >= {404, 422}
    databases = influxql(influx_settings, "SHOW DATABASES").json()["results"][0]["series"][0]["values"]
    assert [influx_settings.database] in databases


def test_influxdb_down_gives_503_while_catalogue_and_latest_answer(
    tmp_path: Path, influxd_factory: Callable[..., InfluxdProcess]
) -> None:
    server = influxd_factory()
    influx = InfluxSettings(url=server.url, database="down")
    influxql(influx, 'CREATE DATABASE "down"')
    write_readings(influx, [Reading("aq-n1", 1, int(time.time() * 1000) - 1000, {"pm25": 4.0})])
    settings = api_settings(tmp_path, influx, retry_after_s=7)
    headers = auth(create_key(settings, Role.OPERATOR))
    with running(settings) as client:
        deadline = time.monotonic() + 5
        while not client.get("/v1/latest", params={"device": "aq-n1"}, headers=headers).json().get("items"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        server.stop()
        history = client.get("/v1/history", params={"device": "aq-n1", "metric": "pm25"}, headers=headers)
        assert history.status_code == 503
        assert history.headers["retry-after"] == "7"
        assert history.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in history.text
        assert "127.0.0.1" not in history.text
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/devices/aq-n1", headers=headers).status_code == 200
        latest = client.get("/v1/latest", params={"device": "aq-n1"}, headers=headers)
        assert latest.status_code == 200
        assert latest.json()["items"][0]["value"] == 4.0


def test_an_unexpected_error_is_a_500_problem_without_a_trace(
    tmp_path: Path, influx_settings: InfluxSettings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = api_settings(tmp_path, influx_settings)
    headers = auth(create_key(settings, Role.PLANNER))
    with running(settings) as client:
        client.app.state.api.index.devices = None  # type: ignore[attr-defined]  # break it from inside
        response = client.get("/v1/latest", params={"device": "aq-n1"}, headers=headers)
    assert response.status_code == 500
    assert response.json()["type"] == "/problems/internal"
    assert "Traceback" not in response.text
    assert "NoneType" not in response.text
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)
