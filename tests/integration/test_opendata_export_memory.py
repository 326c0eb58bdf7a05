"""Large exports against the real influxd and the API under uvicorn in this process: days of synthetic noise
readings (:mod:`tests.support.opendata_load`, which the export benchmark uses too) stream in memory that does not
grow with the export, and a month of a city with many sensors is refused with the row cap named."""

from __future__ import annotations

import time
from pathlib import Path

from services.opendata.datasets import DATASETS
from smartcity.city.model import DeviceType
from smartcity.settings import InfluxSettings
from tests.support.api_server import serving
from tests.support.api_support import running
from tests.support.cities import small_city
from tests.support.opendata_exports import export_settings
from tests.support.opendata_load import export, write_readings

DAY_MS = 86_400_000
SENSORS = 40
"""Noise sensors at 60 s: 57,600 rows a day."""
DAYS = 6
MiB = 1 << 20


async def test_a_long_export_streams_in_the_memory_of_a_short_one(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    city = small_city({f"noise-{i}": DeviceType.NOISE for i in range(SENSORS)})
    end_ms = int(time.time() * 1000) // DAY_MS * DAY_MS
    start_ms = end_ms - DAYS * DAY_MS
    written = await write_readings(influx_settings, city, DATASETS["noise"], start_ms, end_ms)
    async with serving(export_settings(tmp_path, influx_settings, city)) as served:
        short = await export(served.base_url, "/v1/open/noise.csv", end_ms - DAY_MS, end_ms, trace=True)
        long = await export(served.base_url, "/v1/open/noise.csv", start_ms, end_ms, trace=True)
    assert written == SENSORS * DAYS * 1440
    assert long.rows == written
    assert short.rows == SENSORS * 1440
    assert long.bytes > 5 * short.bytes
    assert long.peak_bytes < 1.25 * short.peak_bytes + MiB, (short, long)
    assert long.peak_bytes < long.bytes / 2, (short, long)  # never the whole body: about a chunk and a day


def test_a_month_of_many_sensors_is_beyond_the_row_cap(tmp_path: Path, influx_settings: InfluxSettings) -> None:
    city = small_city({f"noise-{i}": DeviceType.NOISE for i in range(150)})
    with running(export_settings(tmp_path, influx_settings, city)) as client:
        month = client.get(
            "/v1/open/noise.csv", params={"start": "2025-03-01T00:00:00Z", "end": "2025-04-01T00:00:00Z"}
        )
        week = client.get("/v1/open/noise.csv", params={"start": "2025-03-01T00:00:00Z", "end": "2025-03-08T00:00:00Z"})
    assert month.status_code == 422
    problem = month.json()
    assert problem["type"] == "/problems/export-cap"
    assert "max_rows" in problem["detail"]
    assert "5,000,000" in problem["detail"]
    assert problem["invalid_params"][0]["reason"] == "beyond the dataset's cap max_rows"
    assert week.status_code == 200
    assert week.text.splitlines()[0].startswith("time,sensor,facility"), "an empty week: the header alone"
    assert len(week.text.splitlines()) == 1
