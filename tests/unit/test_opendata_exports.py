"""Export logic without a store: what a row of each dataset holds, how a facility's devices combine, how periods
align and caps refuse, how the period is chunked, the provenance header, and each format written from rows and
read back."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import pytest

from services.api.catalogue import CityIndex
from services.api.problems import ApiProblem
from services.opendata.datasets import DATASETS, TemporalGranularity
from services.opendata.exports.columns import Combiner, RowKind, layout_of
from services.opendata.exports.formats import body, encoder_for, header
from services.opendata.exports.provenance import Provenance
from services.opendata.exports.reader import CHUNK_ROWS, MAX_RAW_CHUNK_MS, Row, chunks, statement
from services.opendata.exports.request import export_request, period
from services.opendata.vocabularies import ExportFormat
from smartcity.city.model import DeviceType
from tests.support.cities import small_city
from tests.support.opendata_exports import csv_rows, geojson, provenance, senml_values

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
T0 = 1_744_588_800_000
"""2025-04-14T00:00:00Z."""


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_every_dataset_has_a_layout_of_one_measurement() -> None:
    kinds = {ident: layout_of(dataset).rows for ident, dataset in DATASETS.items()}
    assert kinds["noise"] is RowKind.SENSOR
    assert kinds["car-parks"] is RowKind.FACILITY
    assert kinds["school-occupancy"] is RowKind.RELEASE
    energy = [c.name for c in layout_of(DATASETS["public-building-energy"]).columns]
    assert energy == ["devices", "power_mean", "energy"], "meters add up; a register's increases add up"
    parks = [c.name for c in layout_of(DATASETS["car-parks"]).columns]
    assert parks == ["devices", "occupancy_mean", "occupancy_min", "occupancy_max"]


def test_a_facility_hour_combines_its_devices_by_the_metrics_nature() -> None:
    lighting = Combiner(layout_of(DATASETS["street-lighting"]))
    fields = layout_of(DATASETS["street-lighting"]).fields
    assert fields[:4] == ("dim_level_sum", "dim_level_count", "dim_level_min", "dim_level_max")
    # two lights: dim levels 10, 30 (sum 40 / 2) and 50 (50 / 1); power only on the first
    rows: list[list[float | None]] = [[40, 2, 10, 30, 100.0, 2, 40.0, 60.0], [50, 1, 50, 50, None, None, None, None]]
    assert lighting(rows) == (2, 30.0, 10, 50, 50.0, 40.0, 60.0), "mean over every reading, not of the means"
    energy = Combiner(layout_of(DATASETS["public-building-energy"]))
    assert layout_of(DATASETS["public-building-energy"]).fields == ("power_sum", "power_count", "energy_increase")
    assert energy([[120.0, 4, 1.5], [30.0, 2, 2.0]]) == (2, 45.0, 3.5), "30 kW + 15 kW; 1.5 + 2 kWh"
    assert energy([[None, None, 1.0]]) == (1, None, 1.0)


def test_periods_align_to_the_datasets_granularity() -> None:
    hourly, raw = DATASETS["car-parks"], DATASETS["noise"]
    assert hourly.temporal is TemporalGranularity.HOUR
    start, end = _at(T0 + 90_000), _at(T0 + 2 * HOUR_MS + 1)
    assert period(hourly, start, end, now_ms=0, timezone="Europe/Berlin") == (T0, T0 + 3 * HOUR_MS)
    assert period(raw, start, end, now_ms=0, timezone="Europe/Berlin") == (T0 + 90_000, T0 + 2 * HOUR_MS + 1)
    now = T0 + 5 * HOUR_MS + 17
    assert period(hourly, None, None, now_ms=now, timezone="UTC") == (T0 + 5 * HOUR_MS - DAY_MS, T0 + 5 * HOUR_MS)
    assert period(raw, None, None, now_ms=now, timezone="UTC") == (now - DAY_MS, now)
    assert period(hourly, _at(T0 + 10), _at(T0 + 20), now_ms=0, timezone="UTC") == (T0, T0 + HOUR_MS)
    with pytest.raises(ApiProblem) as backwards:
        period(raw, _at(T0 + 20), _at(T0 + 10), now_ms=0, timezone="UTC")
    assert backwards.value.status == 422


def test_caps_refuse_with_the_cap_named() -> None:
    index = CityIndex(small_city({f"n-{i}": DeviceType.NOISE for i in range(200)}))
    noise = DATASETS["noise"]
    with pytest.raises(ApiProblem) as days:
        export_request(noise, index, start=_at(T0), end=_at(T0 + 32 * DAY_MS), district=None, now_ms=0)
    with pytest.raises(ApiProblem) as rows:
        export_request(noise, index, start=_at(T0), end=_at(T0 + 30 * DAY_MS), district=None, now_ms=0)
    assert (days.value.status, days.value.kind) == (422, "export-cap")
    assert "max_days" in days.value.detail
    assert "max_rows" in rows.value.detail
    fits = export_request(noise, index, start=_at(T0), end=_at(T0 + 10 * DAY_MS), district="d1", now_ms=0)
    assert len(fits.places) == 100
    assert fits.rows_estimate == 100 * 10 * 1440


def test_the_period_is_read_in_chunks_of_bounded_rows() -> None:
    index = CityIndex(small_city({f"n-{i}": DeviceType.NOISE for i in range(40)}))
    wanted = export_request(DATASETS["noise"], index, start=_at(T0), end=_at(T0 + 6 * DAY_MS), district=None, now_ms=0)
    spans = chunks(wanted)
    assert spans[0][0] == T0
    assert spans[-1][1] == T0 + 6 * DAY_MS
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    sizes = {high - low for low, high in spans[:-1]}
    assert max(sizes) * 40 / 60_000 <= CHUNK_ROWS
    assert max(sizes) <= MAX_RAW_CHUNK_MS
    query, params = statement(wanted, "city")
    assert query == ('SELECT "laeq", "lamax" FROM "noise" WHERE time >= $start AND time < $end GROUP BY "device"'), (
        "every kind: no kind filter; values only as bind parameters"
    )
    assert params == {}
    parks = export_request(DATASETS["waste"], index, start=_at(T0), end=_at(T0 + DAY_MS), district="d2", now_ms=0)
    query, params = statement(parks, "city")
    assert '"city"."rp_1h"."waste"' in query
    assert '("facility_kind" = $kind0 OR "facility_kind" = $kind1)' in query
    assert params == {"kind0": "street_segment", "kind1": "park", "district": "d2"}


async def _written(encoder_format: ExportFormat, rows: list[list[Row]]) -> bytes:
    index = CityIndex(small_city({"n-1": DeviceType.NOISE, "n-2": DeviceType.NOISE}))
    wanted = export_request(DATASETS["noise"], index, start=_at(T0), end=_at(T0 + DAY_MS), district=None, now_ms=0)
    facts = Provenance(DATASETS["noise"], T0, T0, T0 + DAY_MS, None, "http://x/v1/catalogue#dataset-noise", ("e", "E"))

    async def source() -> AsyncGenerator[list[Row], None]:
        for chunk in rows[1:]:
            yield chunk

    encoder = encoder_for(encoder_format, wanted.layout, wanted.places, facts)
    return b"".join([part async for part in body(encoder, rows[0], source())])


def test_each_format_reads_back_what_was_written() -> None:
    rows: list[list[Row]] = [
        [(T0, "n-1", (40.5, 61.0)), (T0, "n-2", (None, 70.25))],
        [(T0 + 1500, "n-1", (41.0, None))],
    ]
    names, table = csv_rows(asyncio.run(_written(ExportFormat.CSV, rows)))
    layout = layout_of(DATASETS["noise"])
    assert names == header(layout)
    assert [(r["time"], r["sensor"], r["laeq"], r["lamax"]) for r in table] == [
        ("2025-04-14T00:00:00.000Z", "n-1", "40.5", "61.0"),
        ("2025-04-14T00:00:00.000Z", "n-2", "", "70.25"),
        ("2025-04-14T00:00:01.500Z", "n-1", "41.0", ""),
    ]
    document = geojson(asyncio.run(_written(ExportFormat.GEOJSON, rows)), {c for c in names if c not in ("lat", "lon")})
    assert [f["properties"]["lamax"] for f in document["features"]] == [61.0, 70.25, None]
    assert document["metadata"]["licence"]["id"] == "CC-BY-4.0"
    values = senml_values(asyncio.run(_written(ExportFormat.SENML, rows)))
    assert [(v.base, v.time_ms, v.name, v.unit, v.value) for v in values] == [
        ("n-1", T0, "laeq", "dB", 40.5),
        ("n-1", T0, "lamax", "dB", 61.0),
        ("n-2", T0, "lamax", "dB", 70.25),
        ("n-1", T0 + 1500, "laeq", "dB", 41.0),
    ]
    empty = asyncio.run(_written(ExportFormat.GEOJSON, [[]]))
    assert json.loads(empty)["features"] == []


def test_the_provenance_header_is_a_structured_dictionary() -> None:
    facts = Provenance(DATASETS["waste"], T0, T0, T0 + HOUR_MS, "d1", "http://x/v1/catalogue#dataset-waste", ("o", "O"))
    headers = facts.headers(ExportFormat.CSV)
    assert provenance(headers["X-Provenance"]) == {
        "dataset": "waste",
        "generated-at": "2025-04-14T00:00:00.000Z",
        "source": "rp_1h",
        "privacy": "none",
        "licence": "CC-BY-4.0",
        "start": "2025-04-14T00:00:00.000Z",
        "end": "2025-04-14T01:00:00.000Z",
        "district": "d1",
    }
    assert '<https://creativecommons.org/licenses/by/4.0/>; rel="license"' in headers["Link"]
    assert headers["Content-Disposition"] == 'attachment; filename="waste_d1_20250414T000000Z_20250414T010000Z.csv"'
