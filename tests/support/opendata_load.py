"""Large open-data exports, for the memory test and the export benchmark: synthetic readings of a dataset's sensors
written as the gateway writes them (its line-protocol encoder), and one export read as it streams, with its time,
rows, bytes and the peak of Python allocations meanwhile."""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from services.opendata.datasets import OpenDataset
from smartcity.city.directory import DeviceDirectory
from smartcity.city.model import City, Device
from smartcity.contract.metrics import DEVICE_METRICS, METRICS
from smartcity.contract.reading import Reading
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.settings import InfluxSettings

BATCH_LINES = 5_000


def sensors(city: City, dataset: OpenDataset) -> list[Device]:
    """The city's devices that report the dataset's metrics."""
    wanted = set(dataset.metrics)
    return [device for device in city.devices if wanted.intersection(DEVICE_METRICS[device.type])]


def reading_lines(city: City, dataset: OpenDataset, start_ms: int, end_ms: int) -> Iterator[list[str]]:
    """Batches of line protocol: every sensor of the dataset at its report interval in ``[start, end)``, values
    in each metric's range (seeded, so every run writes the same points)."""
    encoder = LineEncoder(DeviceDirectory.from_city(city))
    rng = random.Random(7)
    specs = [METRICS[name] for name in dataset.metrics]
    devices = sensors(city, dataset)
    batch: list[str] = []
    for device in devices:
        step = device.report_interval_s * 1000
        offset = rng.randrange(step)
        for ts in range(start_ms + offset, end_ms, step):
            values: dict[str, float | int | bool | str] = {}
            for spec in specs:
                low, high = spec.minimum or 0.0, spec.maximum or 100.0
                values[spec.name] = round(low + (high - low) * rng.random() * 0.5, 2)
            batch += encoder.encode(Reading(device.id, None, ts, values))
            if len(batch) >= BATCH_LINES:
                yield batch
                batch = []
    if batch:
        yield batch


async def write_readings(influx: InfluxSettings, city: City, dataset: OpenDataset, start_ms: int, end_ms: int) -> int:
    """Write the synthetic readings (database created); the number of lines written."""
    written = 0
    async with InfluxClient(influx) as client:
        await client.create_database()
        for batch in reading_lines(city, dataset, start_ms, end_ms):
            await client.write("\n".join(batch).encode(), precision="ms")
            written += len(batch)
    return written


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    rows: int
    bytes: int
    peak_bytes: int = 0

    def line(self, what: str) -> str:
        mb = self.bytes / 1e6
        rate = f"{mb / self.seconds:7.1f} MB/s" if self.bytes else " " * 12
        peak = f"  peak {self.peak_bytes / 1e6:6.1f} MB" if self.peak_bytes else ""
        speed = f"{self.rows / self.seconds:>10,.0f} rows/s"
        return f"{what:<24} {self.seconds:7.2f} s {self.rows:>10,} rows {speed} {rate}{peak}"


async def export(base_url: str, path: str, start_ms: int, end_ms: int, *, trace: bool = False) -> Run:
    """One export read as it streams: seconds, rows (CSV lines, GeoJSON features, SenML base names), bytes, and
    with ``trace`` the peak of Python allocations meanwhile."""
    params = {"start": f"{start_ms / 1000:.3f}", "end": f"{end_ms / 1000:.3f}"}
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    size = rows = 0
    marker = {"csv": b"\n", "geojson": b'"type":"Feature"', "senml": b'"bn"'}[path.rsplit(".", 1)[1]]
    tail = b""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=600.0) as client,
        client.stream("GET", path, params=params) as answer,
    ):
        answer.raise_for_status()
        async for chunk in answer.aiter_raw():
            size += len(chunk)
            joined = tail + chunk  # a marker split between two chunks is counted once
            rows += joined.count(marker)
            tail = joined[-(len(marker) - 1) :] if len(marker) > 1 else b""
    seconds = time.perf_counter() - started
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Run(seconds, rows - (1 if marker == b"\n" else 0), size, peak)
