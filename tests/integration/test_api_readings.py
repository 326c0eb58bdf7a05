"""Latest values and history against the real influxd: every figure is computed here, independently, from the raw
points the test wrote (uneven sampling, a two-hour gap, two devices in one district)."""

from __future__ import annotations

import csv
import io
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.keys import Role
from smartcity.contract.reading import Reading
from smartcity.contract.senml import decode_senml_json
from smartcity.settings import InfluxSettings
from tests.support.api_support import api_settings, auth, create_key, running, write_readings

BASE_MS = 1_741_000_800_000
"""2025-03-03T11:20:00Z: a whole hour plus 20 minutes, so buckets of both sizes start before the first point."""
MINUTE, HOUR = 60_000, 3_600_000
# Uneven sampling: clustered seconds, a few minutes apart, then nothing for two hours, then more.
N1_OFFSETS_S = [0, 7, 50, 61, 62, 130, 239, 601, 2 * 3600 + 610, 2 * 3600 + 611, 2 * 3600 + 3000, 3 * 3600 + 5]
N2_OFFSETS_S = [3, 59, 60, 400, 2 * 3600 + 900]


def _value(device: int, index: int) -> float:
    return round(5.0 + device * 3.1 + (index * 7.3) % 11, 3)


N1 = [(BASE_MS + s * 1000, _value(1, i)) for i, s in enumerate(N1_OFFSETS_S)]
N2 = [(BASE_MS + s * 1000, _value(2, i)) for i, s in enumerate(N2_OFFSETS_S)]
START_MS = BASE_MS + 30_000  # inside the first minute: the points before it must not count
END_MS = BASE_MS + 3 * 3600 * 1000  # the last point of aq-n1 lies after it


def _p95(values: list[float]) -> float:
    """InfluxQL's PERCENTILE: the nearest-rank value, rank = floor(n * p / 100 + 0.5)."""
    ordered = sorted(values)
    return ordered[math.floor(len(ordered) * 95 / 100 + 0.5) - 1]


AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "mean": lambda v: sum(v) / len(v),
    "min": min,
    "max": max,
    "sum": sum,
    "count": len,
    "p95": _p95,
}


def expected(points: list[tuple[int, float]], bucket_ms: int, agg: str) -> list[tuple[int, float]]:
    buckets: dict[int, list[float]] = defaultdict(list)
    for ts, value in points:
        if START_MS <= ts < END_MS:
            buckets[ts // bucket_ms * bucket_ms].append(value)
    return [(start, AGGREGATES[agg](values)) for start, values in sorted(buckets.items())]


def _ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture
def api(tmp_path: Path, influx_settings: InfluxSettings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    readings = [Reading("aq-n1", i, ts, {"pm25": v}) for i, (ts, v) in enumerate(N1)]
    readings += [Reading("aq-n2", i, ts, {"pm25": v}) for i, (ts, v) in enumerate(N2)]
    readings += [Reading("aq-s1", 0, BASE_MS + 100_000, {"pm25": 999.0})]  # another district: never counted
    write_readings(influx_settings, readings)
    settings = api_settings(tmp_path, influx_settings)
    key = create_key(settings, Role.PLANNER)
    with running(settings) as client:
        yield client, auth(key)


def _history(client: TestClient, headers: dict[str, str], **params: str | float) -> dict[str, object]:
    query: dict[str, str | float] = {"metric": "pm25", "start": START_MS / 1000, "end": END_MS / 1000}
    query.update(params)
    response = client.get("/v1/history", params=query, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize("agg", list(AGGREGATES))
@pytest.mark.parametrize(("resolution", "bucket_ms"), [("1m", MINUTE), ("1h", HOUR)])
def test_device_history_matches_the_raw_points(
    api: tuple[TestClient, dict[str, str]], agg: str, resolution: str, bucket_ms: int
) -> None:
    client, headers = api
    body = _history(client, headers, device="aq-n1", resolution=resolution, agg=agg)
    got = [(_ms(p["time"]), p["value"]) for p in body["points"]]  # type: ignore[attr-defined]
    want = expected(N1, bucket_ms, agg)
    assert [ts for ts, _v in got] == [ts for ts, _v in want]
    assert [v for _ts, v in got] == pytest.approx([v for _ts, v in want])
    assert body["resolution"] == resolution
    assert body["agg"] == agg


@pytest.mark.parametrize("agg", ["mean", "count", "p95"])
def test_district_history_combines_its_devices_only(api: tuple[TestClient, dict[str, str]], agg: str) -> None:
    client, headers = api
    body = _history(client, headers, district="north", resolution="1h", agg=agg)
    got = [(_ms(p["time"]), p["value"]) for p in body["points"]]  # type: ignore[attr-defined]
    want = expected(N1 + N2, HOUR, agg)
    assert [ts for ts, _v in got] == [ts for ts, _v in want]
    assert [v for _ts, v in got] == pytest.approx([v for _ts, v in want])


def test_raw_history_is_every_point_in_range_with_its_device(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    body = _history(client, headers, district="north", resolution="raw")
    got = [(_ms(p["time"]), p["device"], p["value"]) for p in body["points"]]  # type: ignore[attr-defined]
    want = sorted(
        [(ts, "aq-n1", v) for ts, v in N1 if START_MS <= ts < END_MS]
        + [(ts, "aq-n2", v) for ts, v in N2 if START_MS <= ts < END_MS]
    )
    assert got == want
    assert body["agg"] is None


def test_history_as_csv_and_senml_carries_the_same_values(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    params: dict[str, str | float] = {"metric": "pm25", "device": "aq-n1", "resolution": "raw"}
    params |= {"start": START_MS / 1000, "end": END_MS / 1000}
    want = [(ts, v) for ts, v in N1 if START_MS <= ts < END_MS]
    as_csv = client.get("/v1/history", params=params | {"format": "csv"}, headers=headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(_ms(r["time"]), float(r["value"])) for r in rows] == want
    as_senml = client.get("/v1/history", params=params | {"format": "senml"}, headers=headers)
    assert as_senml.headers["content-type"] == "application/senml+json"
    records = decode_senml_json(as_senml.content)  # the core's own SenML decoder reads it
    base_name, base_time = records[0].bn, records[0].bt
    assert base_name == "aq-n1:"
    assert records[0].bu == "ug/m3"
    times = [round((base_time + (r.t if isinstance(r.t, int | float) else 0)) * 1000) for r in records]  # type: ignore[operator]
    assert list(zip(times, [r.v for r in records], strict=True)) == want


def test_auto_resolution_takes_the_finest_that_fits(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    assert _history(client, headers, device="aq-n1")["resolution"] == "1m"
    month = {"start": (END_MS - 40 * 86_400_000) / 1000}
    assert _history(client, headers, device="aq-n1", **month)["resolution"] == "1h"


def test_too_many_points_is_refused_naming_the_limit(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    params = {"metric": "pm25", "district": "north", "resolution": "1m", "start": "2015-01-01T00:00:00Z"}
    response = client.get("/v1/history", params=params, headers=headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "/problems/too-many-points"
    assert "50,000" in problem["detail"]
    assert "SMARTCITY_API_MAX_POINTS" in problem["detail"]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"metric": "nope", "device": "aq-n1"}, "query.metric"),
        ({"metric": "pm25", "device": "noise-n1"}, "query.metric"),  # a noise sensor has no PM2.5
        (
            {"metric": "pm25", "device": "aq-n1", "start": "2025-03-03T12:00:00Z", "end": "2025-03-03T11:00:00Z"},
            "query.start",
        ),
        ({"metric": "lamp_on", "device": "light-n1", "agg": "mean", "resolution": "1h"}, "query.agg"),
        ({"metric": "pm25", "device": "aq-n1", "resolution": "5m"}, "query.resolution"),
        ({"metric": "pm25", "device": "aq-n1", "start": "yesterday"}, "query.start"),
        ({"metric": "pm25", "device": "aq-n1", "start": "1900-01-01T00:00:00Z"}, "query.start"),
    ],
)
def test_bad_history_parameters_are_named(
    api: tuple[TestClient, dict[str, str]], params: dict[str, str], names: str
) -> None:
    client, headers = api
    response = client.get("/v1/history", params=params, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert names in [p["name"] for p in response.json()["invalid_params"]]


def test_history_needs_exactly_one_selection(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    both = client.get("/v1/history", params={"metric": "pm25", "device": "aq-n1", "district": "north"}, headers=headers)
    none = client.get("/v1/history", params={"metric": "pm25"}, headers=headers)
    assert both.status_code == none.status_code == 422
    assert "exactly one of device, facility or district" in both.json()["detail"]


def test_latest_comes_from_the_cache_per_device_facility_and_district(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    now = int(time.time() * 1000)
    write_readings(
        influx_settings,
        [
            Reading("aq-n1", 1, now - 120_000, {"pm25": 11.0, "no2": 30.0}),
            Reading("aq-n1", 2, now - 60_000, {"pm25": 12.5}),  # newer pm25, no no2: no2 stays from the first
            Reading("aq-n2", 1, now - 30_000, {"pm25": 7.0}),
            Reading("light-n1", 1, now - 30_000, {"lamp_on": True, "dim_level": 40}),
            Reading("aq-s1", 1, now - 30_000, {"pm25": 50.0}),
        ],
    )
    settings = api_settings(tmp_path, influx_settings)
    headers = auth(create_key(settings, Role.PLANNER))
    with running(settings) as client:
        device = client.get("/v1/latest", params={"device": "aq-n1"}, headers=headers).json()
        assert {(i["metric"], i["value"], _ms(i["time"])) for i in device["items"]} == {
            ("no2", 30.0, now - 120_000),
            ("pm25", 12.5, now - 60_000),
        }
        district = client.get("/v1/latest", params={"district": "north", "metric": "pm25"}, headers=headers).json()
        assert {(i["device"], i["value"]) for i in district["items"]} == {("aq-n1", 12.5), ("aq-n2", 7.0)}
        facility = client.get("/v1/latest", params={"facility": "street-n"}, headers=headers).json()
        assert {(i["metric"], i["value"]) for i in facility["items"]} == {("lamp_on", True), ("dim_level", 40)}
        # A new reading shows up after a refresh, without any request scanning history.
        write_readings(influx_settings, [Reading("aq-n2", 2, now, {"pm25": 8.0})])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            items = client.get("/v1/latest", params={"device": "aq-n2"}, headers=headers).json()["items"]
            if items and items[0]["value"] == 8.0:
                break
            time.sleep(0.1)
        assert items[0]["value"] == 8.0
