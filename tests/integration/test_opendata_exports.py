"""The open-data exports against the real influxd: the filled city's raw points (environmental datasets, per sensor)
and its roll-ups by the real worker (infrastructure datasets per facility; person-related datasets through the
privacy engine), in all three formats, read back as a consumer would: the csv module, GeoJSON's structure, SenML
through the contract's own decoder. Values are checked against the raw points; caps, bad dates and injection
strings get problems, never a 5xx."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from services.opendata.datasets import DATASETS, OpenDataset
from services.opendata.exports.columns import layout_of
from services.opendata.exports.formats import header
from services.opendata.privacy.cells import Treatment
from services.opendata.vocabularies import ExportFormat
from smartcity.contract.metrics import METRICS
from smartcity.localservices import InfluxdProcess
from tests.integration.test_api_errors import INJECTIONS
from tests.support.api_support import influxql, running
from tests.support.filled_city import FilledCity
from tests.support.grafana_city import GrafanaCity, load_grafana_city
from tests.support.opendata_exports import (
    SenmlValue,
    csv_rows,
    export_settings,
    geojson,
    provenance,
    senml_values,
)

HOUR_MS = 3_600_000
RAW_HOURS = 6
"""Raw exports cover the last hours of the filled city (every environmental sensor reports in them)."""
ROLLED_HOURS = 24
PUBLIC = [d for d in DATASETS.values() if not d.person_related]
PERSON = [d for d in DATASETS.values() if d.person_related]


@pytest.fixture(scope="module")
def rolled(influxd: InfluxdProcess) -> Iterator[GrafanaCity]:
    """A copy of the filled city rolled up by the real worker (the Grafana proof's data set)."""
    loaded = load_grafana_city(influxd.url)
    yield loaded
    influxql(loaded.influx, f'DROP DATABASE "{loaded.influx.database}"')


def _iso(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def _period(dataset: OpenDataset, end_ms: int) -> dict[str, str]:
    hours = RAW_HOURS if dataset.source.tier is None else ROLLED_HOURS
    return {"start": _iso(end_ms - hours * HOUR_MS), "end": _iso(end_ms)}


def _raw_rows(
    filled: FilledCity, dataset: OpenDataset, start_ms: int, end_ms: int
) -> dict[tuple[int, str], dict[str, Any]]:
    """(time, device) -> {metric: value} straight from the raw points."""
    spec = METRICS[dataset.metrics[0]]
    fields = ", ".join(f'"{m}"' for m in dataset.metrics)
    answer = influxql(
        filled.influx,
        f'SELECT {fields} FROM "{spec.measurement}" WHERE time >= $s AND time < $e GROUP BY "device"',
        {"s": start_ms * 1_000_000, "e": end_ms * 1_000_000},
    ).json()["results"][0]
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for series in answer.get("series", []):
        for row in series["values"]:
            rows[(row[0], series["tags"]["device"])] = dict(zip(series["columns"][1:], row[1:], strict=True))
    return rows


def _check_formats(
    client: TestClient, dataset: OpenDataset, params: dict[str, str]
) -> tuple[list[dict[str, str]], dict[str, Any], list[SenmlValue]]:
    layout = layout_of(dataset)
    columns = header(layout)
    answers = {f: client.get(f"/v1/open/{dataset.id}.{f.value}", params=params) for f in ExportFormat}
    for export_format, answer in answers.items():
        assert answer.status_code == 200, (dataset.id, export_format, answer.text)
        assert answer.headers["content-type"].startswith(export_format.media_type)
        facts = provenance(answer.headers["x-provenance"])
        assert facts["dataset"] == dataset.id
        assert facts["source"] == dataset.source.value
        assert facts["privacy"] == dataset.privacy.value
        assert facts["licence"] == "CC-BY-4.0"
        assert 'rel="license"' in answer.headers["link"]
        assert f"/v1/catalogue#dataset-{dataset.id}" in answer.headers["link"]
    names, rows = csv_rows(answers[ExportFormat.CSV].content)
    assert names == columns
    document = geojson(answers[ExportFormat.GEOJSON].content, {c for c in columns if c not in ("lat", "lon")})
    assert len(document["features"]) == len(rows)
    assert document["metadata"]["dataset"] == dataset.id
    assert document["metadata"]["licence"]["id"] == "CC-BY-4.0"
    assert document["metadata"]["privacy"]["treatment"] == dataset.privacy.value
    values = senml_values(answers[ExportFormat.SENML].content)
    names_in_senml = {value.name for value in values}
    assert names_in_senml <= {c.name for c in layout.columns if c.in_senml}
    return rows, document, values


@pytest.mark.parametrize("dataset", [d for d in PUBLIC if d.source.tier is None], ids=lambda d: d.id)
def test_an_environmental_dataset_is_every_reading_of_every_sensor(
    tmp_path: Path, filled_city: FilledCity, dataset: OpenDataset
) -> None:
    end_ms = filled_city.end_ms
    params = _period(dataset, end_ms)
    with running(export_settings(tmp_path, filled_city.influx, filled_city.city)) as client:
        rows, document, values = _check_formats(client, dataset, params)
    expected = _raw_rows(filled_city, dataset, end_ms - RAW_HOURS * HOUR_MS, end_ms)
    assert rows, "every environmental dataset has readings in the last hours"
    assert len(rows) == len(expected)
    devices = {d.id: d for d in filled_city.city.devices}
    for row, feature in zip(rows, document["features"], strict=True):
        ts = round(float(_ms(row["time"])))
        measured = expected[(ts, row["sensor"])]
        for metric in dataset.metrics:
            assert (float(row[metric]) if row[metric] else None) == measured[metric]
            assert feature["properties"][metric] == measured[metric]
        device = devices[row["sensor"]]
        assert (float(row["lat"]), float(row["lon"])) == (device.location.lat, device.location.lon)
        assert feature["geometry"]["coordinates"] == [device.location.lon, device.location.lat]
        assert row["district"] == device.district_id
    in_senml = {(v.base, v.time_ms, v.name): v.value for v in values}
    assert len(in_senml) == sum(1 for m in expected.values() for v in m.values() if v is not None)
    for (ts, sensor), measured in expected.items():
        for metric, value in measured.items():
            if value is not None:
                assert in_senml[(sensor, ts, metric)] == value
    assert {v.unit for v in values} == {METRICS[m].unit for m in dataset.metrics}


def _ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


@pytest.mark.parametrize("dataset", [d for d in PUBLIC if d.source.tier is not None], ids=lambda d: d.id)
def test_an_infrastructure_dataset_is_per_facility_and_hour(
    tmp_path: Path, rolled: GrafanaCity, dataset: OpenDataset
) -> None:
    filled = rolled.filled
    end_ms = filled.end_ms - HOUR_MS  # the worker completes an hour after it ended
    params = _period(dataset, end_ms)
    with running(export_settings(tmp_path, rolled.influx, filled.city)) as client:
        rows, _document, values = _check_formats(client, dataset, params)
    assert rows, f"{dataset.id}: the roll-ups hold hours of it"
    assert all(int(row["devices"]) >= 1 for row in rows)
    assert len({(v.base, v.time_ms) for v in values}) == len(rows)
    kinds = {k.value for k in dataset.facility_kinds}
    assert {row["facility_kind"] for row in rows} <= kinds
    # the hourly mean, minimum and maximum from the raw points of the facility's devices
    raw = _raw_rows(filled, dataset, end_ms - ROLLED_HOURS * HOUR_MS, end_ms)
    facility_of = {d.id: d.facility_id for d in filled.city.devices}
    per_hour: dict[tuple[int, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (ts, device), measured in raw.items():
        for metric, value in measured.items():
            if value is not None:
                per_hour[(ts // HOUR_MS * HOUR_MS, facility_of[device])][metric].append(value)
    layout = layout_of(dataset)
    checked = 0
    for row in rows:
        hour = per_hour[(round(_ms(row["time"])), row["facility"])]
        for column in layout.columns:
            metric = column.name.rsplit("_", 1)[0]
            if column.combine.value in ("mean", "min", "max") and hour.get(metric):
                want = {"mean": math.fsum(hour[metric]) / len(hour[metric]), "min": min(hour[metric])}
                want["max"] = max(hour[metric])
                assert float(row[column.name]) == pytest.approx(want[column.combine.value], rel=1e-9)
                checked += 1
    assert checked or layout.columns[1].combine.value != "mean"


@pytest.mark.parametrize("dataset", PERSON, ids=lambda d: d.id)
def test_a_person_related_dataset_is_the_privacy_engines_release(
    tmp_path: Path, rolled: GrafanaCity, dataset: OpenDataset
) -> None:
    filled = rolled.filled
    with running(export_settings(tmp_path, rolled.influx, filled.city)) as client:
        # the filled city's last whole local day: a day ends before the data set does
        params = {"start": _iso(filled.end_ms - 30 * HOUR_MS), "end": _iso(filled.end_ms - 30 * HOUR_MS + 1)}
        rows, document, values = _check_formats(client, dataset, params)
        district = client.get(f"/v1/open/{dataset.id}.csv", params={"district": filled.city.districts[0].id})
    assert rows
    labels = {t.value for t in Treatment} | {
        f"merged-into-{a}" for a in ("city", *(d.id for d in filled.city.districts))
    }
    assert {row["treatment"] for row in rows} <= labels
    for row in rows:
        shown = row["treatment"] in (Treatment.PUBLISHED.value, Treatment.EMPTY.value)
        assert (row["occupancy"] != "") == shown, row
    group = "education" if dataset.id in ("school-occupancy", "library-occupancy") else "care"
    assert {row["kind"] for row in rows} == {group}
    assert {row["window_level"] for row in rows} == {"1h", "1d"}
    policy = document["metadata"]["privacy_policy"]
    assert policy["k"] == 3
    assert policy["finest_area"] == "city", "the filled city has too few facilities per district"
    assert district.status_code == 422, "the grid has no district cells to show"
    assert {v.name for v in values} <= {"facilities", "occupancy", "treatment"}


def test_caps_bad_dates_and_unknown_names_get_problems(tmp_path: Path, filled_city: FilledCity) -> None:
    end = filled_city.end_ms
    with running(export_settings(tmp_path, filled_city.influx, filled_city.city)) as client:
        too_long = client.get("/v1/open/noise.csv", params={"start": _iso(end - 32 * 86_400_000), "end": _iso(end)})
        a_year = client.get(
            "/v1/open/waste.geojson", params={"start": "2024-01-01T00:00:00Z", "end": "2025-02-01T00:00:00Z"}
        )
        unknown = client.get("/v1/open/traffic.csv")
        bad_date = client.get("/v1/open/noise.senml", params={"start": "yesterday"})
        backwards = client.get("/v1/open/noise.csv", params={"start": _iso(end), "end": _iso(end - HOUR_MS)})
        no_district = client.get("/v1/open/noise.csv", params={"district": "atlantis"})
        typo = client.get("/v1/open/noise.csv", params={"districts": "old-town"})
        no_format = client.get("/v1/open/noise.xml")
    assert too_long.status_code == a_year.status_code == 422
    for answer in (too_long, a_year):
        problem = answer.json()
        assert answer.headers["content-type"] == "application/problem+json"
        assert problem["type"] == "/problems/export-cap"
        assert "max_days" in problem["detail"]
    assert "31 days" in too_long.json()["detail"]
    assert (unknown.status_code, unknown.json()["type"]) == (404, "/problems/unknown-id")
    assert bad_date.status_code == backwards.status_code == typo.status_code == 422
    assert no_district.status_code == no_format.status_code == 404


def test_injection_strings_in_every_parameter_get_problems(tmp_path: Path, filled_city: FilledCity) -> None:
    statuses = set()
    with running(export_settings(tmp_path, filled_city.influx, filled_city.city)) as client:
        for text in INJECTIONS:
            for export_format in ExportFormat:
                answers = [client.get(f"/v1/open/{quote(text, safe='')}.{export_format.value}")]
                for name in ("start", "end", "district"):
                    answers.append(client.get(f"/v1/open/noise.{export_format.value}", params={name: text}))
                for answer in answers:
                    assert 400 <= answer.status_code < 500, (text, answer.status_code, answer.text)
                    assert answer.headers["content-type"] == "application/problem+json"
                    statuses.add(answer.status_code)
        still = influxql(filled_city.influx, 'SELECT COUNT("laeq") FROM "noise"').json()["results"][0]
    assert statuses == {404, 422}
    assert still["series"][0]["values"][0][1] > 0, "the data is still there"


def test_exports_are_rate_limited_without_a_key(tmp_path: Path, filled_city: FilledCity) -> None:
    settings = export_settings(tmp_path, filled_city.influx, filled_city.city, public_rate_per_s=0.5, public_burst=2)
    params = {"start": _iso(filled_city.end_ms - HOUR_MS), "end": _iso(filled_city.end_ms)}
    with running(settings) as client:
        answers = [client.get("/v1/open/flood-levels.csv", params=params) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "retry-after" in answers[2].headers
