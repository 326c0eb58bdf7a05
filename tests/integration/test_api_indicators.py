"""Indicators against the real influxd: raw readings with uneven sampling, gaps and a meter reset are written, the
roll-up worker computes its windows, and every indicator per district and per facility kind is checked against
values computed in :mod:`tests.support.indicator_expected` from the raw readings. Before the roll-ups exist the
answer is empty (indicators never read raw points). Roles, district scope, bad periods and injection strings."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from services.api.indicators.definitions import INDICATORS, Method
from services.api.keys import Role
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker, WorkerConfig
from smartcity.city.directory import DeviceDirectory
from smartcity.contract.reading import Value
from smartcity.influx.client import InfluxClient
from smartcity.influx.schema import device_health_point
from smartcity.localservices import InfluxdProcess
from smartcity.rollups import LocalDays, RollupPolicy
from smartcity.settings import InfluxSettings
from tests.integration.test_api_errors import INJECTIONS
from tests.support.api_support import api_settings, auth, create_key, influxql, running
from tests.support.indicator_expected import Expected, Want
from tests.support.indicator_support import day_of_readings, indicator_city, lines_of, readings_of, write_indicator_city

CITY = indicator_city()
DAYS = LocalDays(CITY.timezone)
DAY_START = DAYS.start_of(int(time.time() * 1000) - 2 * 86_400_000)
DAY_END = DAYS.day_of(DAY_START)[1]
DATA = day_of_readings(DAY_START)
HOUR_MS = 3_600_000


def _health_lines() -> bytes:
    """device_health of aq-n1 from one replica: before the day, inside it, and after it (not counted)."""
    info = DeviceDirectory.from_city(CITY).get("aq-n1")
    assert info is not None
    records = [
        (DAY_START - HOUR_MS, "0-49,55-99"),  # 95 received, 5 lost
        (DAY_START + 10 * HOUR_MS, "0-49,55-149,160-299"),  # +190 received (100-149, 160-299), +10 lost
        (DAY_END + HOUR_MS, "0-49,55-149,160-399"),
    ]
    lines = []
    for ts, ranges in records:
        seen = sum(int(b) - int(a) + 1 for a, b in (part.split("-") for part in ranges.split(",")))
        last = int(ranges.rsplit("-", 1)[1])
        fields: dict[str, Value] = {
            "first_seq": 0,
            "last_seq": last,
            "seen": seen,
            "ranges": ranges,
            "last_ts_ms": ts,
            "run_start_ms": 1,
        }
        lines.append(device_health_point(info, replica="gw-1", fields=fields, ts_ms=ts))
    return "\n".join(lines).encode()


async def _roll_up(influx_settings: InfluxSettings) -> None:
    lookback_h = (int(time.time() * 1000) - DAY_START) // HOUR_MS + 1
    config = WorkerConfig(120, 1_000, lookback_h, 35, 86_400)
    async with InfluxClient(influx_settings) as influx, TierClients(influx_settings) as tiers:
        await ensure_retention(influx, RollupPolicy(), apply_raw=False)
        worker = RollupWorker(influx, tiers, DAYS, config, RollupMetrics())
        for _ in range(100):
            await worker.cycle()
            if not worker.backlog:
                return
    raise AssertionError("the roll-up worker never caught up")


@pytest.fixture(scope="module")
def influx_db(influxd: InfluxdProcess) -> Iterator[InfluxSettings]:
    """One database for the module, with the day's readings and health records, not rolled up yet."""
    settings = InfluxSettings(url=influxd.url, database=f"indicators_{uuid.uuid4().hex[:10]}")
    influxql(settings, f'CREATE DATABASE "{settings.database}"')
    with httpx.Client(base_url=influxd.url, trust_env=False, timeout=60.0) as client:
        for body in (lines_of(readings_of(DATA)), _health_lines()):
            answer = client.post("/write", params={"db": settings.database, "precision": "ms"}, content=body)
            assert answer.status_code == 204, answer.text
    yield settings
    influxql(settings, f'DROP DATABASE "{settings.database}"')


@pytest.fixture(scope="module")
def rolled(influx_db: InfluxSettings) -> InfluxSettings:
    asyncio.run(_roll_up(influx_db))
    return influx_db


@pytest.fixture
def api(tmp_path: Path, rolled: InfluxSettings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = api_settings(tmp_path, rolled, city_file=write_indicator_city(tmp_path / "indicator-city.json"))
    with running(settings) as client:
        yield client, auth(create_key(settings, Role.PLANNER))


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _ask(client: TestClient, headers: dict[str, str], name: str, **params: str) -> dict[str, Any]:
    query = {"start": str(DAY_START / 1000), "end": str(DAY_END / 1000)} | params
    response = client.get(f"/v1/indicators/{name}", params=query, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _want(name: str, by: str, expected: Expected) -> dict[str, Want]:
    indicator = INDICATORS[name]
    kinds = tuple(k.value for k in indicator.facility_kinds)
    groups = expected.members(indicator.metrics, kinds, by)
    metric = indicator.metrics[0] if indicator.metrics else ""
    method = indicator.method
    if method is Method.HOURS_ABOVE:
        assert indicator.threshold is not None
        days = name.endswith("_days_above_who")
        return expected.windows_above(groups, metric, indicator.threshold, days=days, night=indicator.night_only)
    if method is Method.MEAN:
        return expected.mean(groups, metric)
    if method is Method.PER_CAPACITY:
        return expected.per_capacity(groups, metric)
    if method is Method.PEAK_PER_CAPACITY:
        return expected.peak_per_capacity(groups, metric)
    if method is Method.PER_FLOOR_AREA:
        return expected.per_floor_area(groups, metric)
    if method is Method.LIGHTS_WORKING:
        return expected.lights_working(groups)
    return expected.expected_share(groups, readings=method is not Method.UPTIME)  # quality without flags: completeness


ROLLED_UP = [name for name, indicator in INDICATORS.items() if indicator.method is not Method.DELIVERY]


@pytest.mark.parametrize("by", ["district", "facility_kind"])
@pytest.mark.parametrize("name", ROLLED_UP)
def test_indicator_equals_the_value_computed_from_raw_points(
    api: tuple[TestClient, dict[str, str]], name: str, by: str
) -> None:
    client, headers = api
    body = _ask(client, headers, name, group_by=by)
    assert (_ms(body["period"]["start"]), _ms(body["period"]["end"])) == (DAY_START, DAY_END)
    want = _want(name, by, Expected(CITY, DATA, DAY_START, DAY_END))
    got = {g["group"]: g for g in body["groups"]}
    assert sorted(got) == sorted(want), name
    for group, expected in want.items():
        answer = got[group]
        assert answer["unit"] == INDICATORS[name].unit
        assert answer["value"] == pytest.approx(expected.value), (name, group)
        assert (answer["windows"], answer["devices"]) == (expected.windows, expected.devices), (name, group)
        if expected.facilities is not None:
            assert answer["facilities"] == expected.facilities, (name, group)
        if expected.at_ms is not None:
            assert _ms(answer["at"]) == expected.at_ms
        assert (_ms(answer["period"]["start"]), _ms(answer["period"]["end"])) == (DAY_START, DAY_END)
    assert any(g["value"] for g in body["groups"]), f"{name}: the data should give a non-zero value somewhere"


def test_a_partial_period_counts_whole_hours_only(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    start, end = DAY_START + HOUR_MS // 2, DAY_END - HOUR_MS // 2
    body = _ask(client, headers, "pm25_hours_above_who", start=str(start / 1000), end=str(end / 1000))
    assert (_ms(body["requested"]["start"]), _ms(body["requested"]["end"])) == (start, end)
    assert (_ms(body["period"]["start"]), _ms(body["period"]["end"])) == (DAY_START + HOUR_MS, DAY_END - HOUR_MS)
    expected = Expected(CITY, DATA, DAY_START + HOUR_MS, DAY_END - HOUR_MS)
    want = _want("pm25_hours_above_who", "district", expected)
    assert {g["group"]: g["value"] for g in body["groups"]} == {g: w.value for g, w in want.items()}


def test_reading_delivery_is_the_change_of_device_health_over_the_period(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    body = _ask(client, headers, "reading_delivery")
    north = next(g for g in body["groups"] if g["group"] == "north")
    received = len(set(range(55, 150)) - set(range(55, 100))) + len(range(160, 300))  # what came in the period
    lost = len(range(150, 160))
    assert north["value"] == pytest.approx(100 * received / (received + lost))
    assert (north["devices"], north["windows"]) == (1, 1)
    assert next(g for g in body["groups"] if g["group"] == "south")["value"] is None


def test_roles_and_district_scope(tmp_path: Path, rolled: InfluxSettings) -> None:
    settings = api_settings(tmp_path, rolled, city_file=write_indicator_city(tmp_path / "indicator-city.json"))
    north = auth(create_key(settings, Role.PLANNER, ("north",)))
    with running(settings) as client:
        assert client.get("/v1/indicators").status_code == 401
        public = auth(create_key(settings, Role.PUBLIC))  # the public role, even with a key, needs a planner's
        answer = client.get("/v1/indicators/energy_per_m2", headers=public)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        assert "planner" in answer.json()["detail"]
        assert client.get("/v1/indicators/energy_per_m2", headers=north).status_code == 200
        listed = client.get("/v1/indicators", headers=north).json()["items"]
        assert [item["name"] for item in listed] == list(INDICATORS)
        scoped = _ask(client, north, "sensor_uptime")
        assert [g["group"] for g in scoped["groups"]] == ["north"]
        kinds = _ask(client, north, "energy_per_m2", group_by="facility_kind")
        want = _want(
            "energy_per_m2", "facility_kind", Expected(CITY, {"meter-n1": DATA["meter-n1"]}, DAY_START, DAY_END)
        )
        assert kinds["groups"][0]["value"] == pytest.approx(want["school"].value)  # north's school only
        outside = client.get("/v1/indicators/energy_per_m2", params={"district": "south"}, headers=north)
        assert outside.status_code == 404
        assert outside.json()["type"] == "/problems/unknown-id"


def test_bad_names_periods_and_injection_strings_are_problems(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    unknown = client.get("/v1/indicators/happiness", headers=headers)
    assert (unknown.status_code, unknown.json()["type"]) == (404, "/problems/unknown-id")
    backwards = client.get(
        "/v1/indicators/pm25_hours_above_who", params={"start": "2025-02-01", "end": "2025-01-01"}, headers=headers
    )
    assert backwards.status_code == 422
    assert backwards.json()["invalid_params"][0]["name"] == "query.start"
    long = client.get(
        "/v1/indicators/pm25_hours_above_who", params={"start": "2025-01-01", "end": "2025-06-01"}, headers=headers
    )
    assert (long.status_code, long.json()["type"]) == (422, "/problems/period-too-long")
    assert "93 days" in long.json()["detail"]
    assert (
        client.get(
            "/v1/indicators/pm25_days_above_who", params={"start": "2025-01-01", "end": "2025-06-01"}, headers=headers
        ).status_code
        == 200
    )
    beyond = client.get("/v1/indicators/energy_per_m2", params={"end": "2300-01-01"}, headers=headers)
    assert beyond.status_code == 422
    wrong_kind = client.get("/v1/indicators/energy_per_m2", params={"facility_kind": "park"}, headers=headers)
    assert wrong_kind.json()["invalid_params"][0]["name"] == "query.facility_kind"
    for text in INJECTIONS:
        path = client.get(f"/v1/indicators/{quote(text, safe='')}", headers=headers)
        assert path.status_code in (404, 422), (text, path.text)
        for parameter in ("start", "end", "group_by", "district", "facility_kind"):
            answer = client.get("/v1/indicators/pm25_hours_above_who", params={parameter: text}, headers=headers)
            assert answer.status_code in (404, 422), (parameter, text, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
    # the data is still there: the same answer as before the injections
    again = _ask(client, headers, "pm25_hours_above_who")
    assert any(g["value"] for g in again["groups"])


def test_before_any_roll_up_the_answer_is_empty(tmp_path: Path, influx_db: InfluxSettings) -> None:
    """Raw points alone answer nothing: indicators read roll-ups only (run before the module's roll-up, or on
    a fresh database when the order differs)."""
    fresh = InfluxSettings(url=influx_db.url, database=f"raw_only_{uuid.uuid4().hex[:8]}")
    influxql(fresh, f'CREATE DATABASE "{fresh.database}"')
    try:
        with httpx.Client(base_url=fresh.url, trust_env=False, timeout=60.0) as http:
            body = lines_of(readings_of({"aq-n1": DATA["aq-n1"]}))
            assert (
                http.post("/write", params={"db": fresh.database, "precision": "ms"}, content=body).status_code == 204
            )
        settings = api_settings(tmp_path, fresh, city_file=write_indicator_city(tmp_path / "indicator-city.json"))
        with running(settings) as client:
            answer = _ask(client, auth(create_key(settings, Role.PLANNER)), "pm25_hours_above_who")
        assert answer["rolled_up_to"] is None
        assert answer["period"]["start"] == answer["period"]["end"]
        assert [g["value"] for g in answer["groups"]] == [None, None]
    finally:
        influxql(fresh, f'DROP DATABASE "{fresh.database}"')
