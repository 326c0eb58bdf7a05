"""``/v1/quality`` and flagged data in indicators, against the real influxd: planted faults rolled up by the real
roll-up worker and judged by the real quality worker; filters, cursor pages, bad input as problem details,
indicators that leave flagged devices out (and say so) unless asked for the raw view, and the quality score."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.keys import Role
from smartcity.localservices import InfluxdProcess
from smartcity.settings import InfluxSettings
from tests.support.api_support import api_settings, auth, create_key, influxql, running
from tests.support.quality_city import HOUR, HOURS, PLANTED, fill_and_judge, quality_start, write_quality_city

NOW = int(time.time() * 1000)
START = quality_start(NOW)
WINDOW = {"start": str(START / 1000), "end": str((START + HOURS * HOUR) / 1000)}


@pytest.fixture(scope="module")
def judged(influxd: InfluxdProcess) -> Iterator[InfluxSettings]:
    settings = InfluxSettings(url=influxd.url, database=f"quality_{uuid.uuid4().hex[:10]}")
    influxql(settings, f'CREATE DATABASE "{settings.database}"')
    asyncio.run(fill_and_judge(settings, START, NOW))
    yield settings
    influxql(settings, f'DROP DATABASE "{settings.database}"')


@pytest.fixture
def api(tmp_path: Path, judged: InfluxSettings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = api_settings(tmp_path, judged, city_file=write_quality_city(tmp_path / "quality-city.json"))
    with running(settings) as client:
        yield client, auth(create_key(settings, Role.PLANNER))


def _get(client: TestClient, headers: dict[str, str], path: str, **params: str) -> dict[str, Any]:
    response = client.get(path, params=WINDOW | params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_flags_are_listed_with_their_device_kind_and_span(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    items = _get(client, headers, "/v1/quality", limit="500")["items"]
    kinds = {(item["device"], item["kind"]) for item in items}
    for device, fault in PLANTED.items():
        assert (device, fault.value) in kinds
    (stuck,) = _get(client, headers, "/v1/quality", device="aq-1", kind="stuck")["items"]
    assert (stuck["metric"], stuck["district"], stuck["facility"]) == ("pm25", "north", "school-n")
    assert stuck["end"] is not None
    assert stuck["score"] >= 1
    (drift,) = _get(client, headers, "/v1/quality", kind="drift", state="open")["items"]
    assert (drift["device"], drift["end"]) == ("aq-3", None)
    assert _get(client, headers, "/v1/quality", district="south")["items"] == []
    assert len(_get(client, headers, "/v1/quality", facility="school-n", limit="500")["items"]) == len(items)


def test_cursor_pages_cover_every_flag_once(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    every = _get(client, headers, "/v1/quality", limit="500")["items"]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(len(every) + 1):
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = _get(client, headers, "/v1/quality", **params)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == every
    assert len(every) > 2


@pytest.mark.parametrize(
    ("params", "status", "name"),
    [
        ({"cursor": "not-a-cursor"}, 422, "query.cursor"),
        ({"start": "2025-01-02T00:00:00Z", "end": "2025-01-01T00:00:00Z"}, 422, "query.end"),
        ({"start": "2025-01-01T00:00:00Z", "end": "2025-12-01T00:00:00Z"}, 422, "query.start"),
        ({"end": "2630-10-31T02:10:26Z"}, 422, "query.end"),  # past what InfluxDB's times reach
        ({"kind": "haunted"}, 422, None),
        ({"state": "maybe"}, 422, None),
        ({"district": "atlantis"}, 404, None),
        ({"device": "aq-404"}, 404, None),
        ({"limit": "0"}, 422, None),
    ],
)
def test_bad_input_gets_problem_details(
    api: tuple[TestClient, dict[str, str]], params: dict[str, str], status: int, name: str | None
) -> None:
    client, headers = api
    response = client.get("/v1/quality", params=params, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if name is not None:
        assert name in response.json()["detail"]


def test_the_public_role_sees_no_flags(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _headers = api
    assert client.get("/v1/quality").status_code == 401


def test_indicators_leave_flagged_devices_out_and_say_so(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    name = "/v1/indicators/pm25_hours_above_who"
    default = _get(client, headers, name)
    raw = _get(client, headers, name, include_flagged="true")
    excluded = default["excluded"]
    assert excluded["include_flagged"] is False
    assert (excluded["devices"], excluded["of_devices"]) == (3, 6)  # stuck aq-1, spiking aq-2, drifting aq-3
    assert excluded["by_kind"]["stuck"] == 1
    assert excluded["by_kind"]["drift"] == 1
    assert excluded["by_kind"]["offline"] >= 1
    assert raw["excluded"]["include_flagged"] is True
    assert raw["excluded"]["devices"] == 0
    (north,) = default["groups"]
    (north_raw,) = raw["groups"]
    assert (north["devices"], north_raw["devices"]) == (3, 6)


def test_the_quality_score_is_completeness_times_trust(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    (score,) = _get(client, headers, "/v1/indicators/data_quality_score")["groups"]
    (complete,) = _get(client, headers, "/v1/indicators/data_completeness", include_flagged="true")["groups"]
    assert 0 < score["value"] < complete["value"] <= 100
