"""Open-data export throughput: an environmental dataset of a generated city over a month, exported through the
real API (uvicorn, in this process) in each format, against the raw InfluxQL of the same rows in the same run.

Run: ``.venv/bin/python -m bench.opendata_bench [--devices 10000] [--days 30] [--dataset air-quality]``

1. A private influxd (temporary directory) gets ``--days`` of synthetic readings of every sensor of the dataset
   at its report interval, through the gateway's line-protocol encoder.
2. Baseline: the export's own chunk statements (:func:`services.opendata.exports.reader.statement` over
   :func:`~services.opendata.exports.reader.chunks`), sent straight to influxd one after the other: the time
   InfluxDB needs to answer the same rows.
3. Export: ``GET /v1/open/{dataset}.{format}`` for the whole period, read as it streams; MB/s and rows/s.
4. Memory: the peak of Python allocations (tracemalloc) while one day is exported and while the whole period is:
   flat means about the same for both. Measured in a pass of its own (tracing slows Python down).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn

from services.api.app import create_app
from services.api.catalogue import CityIndex
from services.api.settings import ApiSettings
from services.opendata.datasets import DATASETS, OpenDataset
from services.opendata.exports.reader import chunks, statement
from services.opendata.exports.request import export_request
from smartcity.city.directory import DeviceDirectory
from smartcity.city.generate import generate_city
from smartcity.city.model import City, Device
from smartcity.contract.metrics import DEVICE_METRICS, METRICS
from smartcity.contract.reading import Reading
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.localservices import InfluxdProcess
from smartcity.settings import InfluxSettings

DAY_MS = 86_400_000
BATCH_LINES = 5_000
DATABASE = "opendata_bench"


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


async def baseline(influx: InfluxSettings, city: City, dataset: OpenDataset, start_ms: int, end_ms: int) -> Run:
    """The export's chunk statements straight to influxd: seconds and rows."""
    period = {"start": datetime.fromtimestamp(start_ms / 1000, UTC), "end": datetime.fromtimestamp(end_ms / 1000, UTC)}
    wanted = export_request(dataset, CityIndex(city), district=None, now_ms=end_ms, **period)
    query, params = statement(wanted, influx.database)
    rows = 0
    started = time.perf_counter()
    async with InfluxClient(influx) as client:
        for low, high in chunks(wanted):
            answer = await client.query(query, params | {"start": low * 1_000_000, "end": high * 1_000_000})
            rows += sum(len(series.values) for series in answer)
    return Run(time.perf_counter() - started, rows, 0)


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


async def serve(settings: ApiSettings) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    port = int(server.servers[0].sockets[0].getsockname()[1])
    return server, task, f"http://127.0.0.1:{port}"


async def run(args: argparse.Namespace, workdir: Path) -> None:
    dataset = DATASETS[args.dataset]
    city = generate_city(devices=args.devices, seed=args.seed)
    end_ms = int(time.time() * 1000) // DAY_MS * DAY_MS
    start_ms = end_ms - args.days * DAY_MS
    with InfluxdProcess(workdir / "influxd") as influxd:
        influx = InfluxSettings(url=influxd.url, database=DATABASE, timeout_s=600.0)
        began = time.perf_counter()
        lines = await write_readings(influx, city, dataset, start_ms, end_ms)
        found = len(sensors(city, dataset))
        print(f"{dataset.id}: {found} sensors of a {args.devices:,}-device city, {args.days} days, {lines:,} points")
        print(f"written in {time.perf_counter() - began:.1f} s")
        city_file = workdir / "city.json"
        city_file.write_text(city.model_dump_json(), encoding="utf-8")
        settings = ApiSettings.model_validate(
            {"influx": influx, "city_file": city_file, "state_file": workdir / "state.sqlite"}
            | {"public_rate_per_s": 1_000.0, "public_burst": 1_000}
        )
        server, task, base = await serve(settings)
        try:
            direct = await baseline(influx, city, dataset, start_ms, end_ms)
            print(direct.line("raw InfluxQL (baseline)"))
            for export_format in args.formats:
                path = f"/v1/open/{dataset.id}.{export_format}"
                whole = await export(base, path, start_ms, end_ms)
                print(whole.line(f"export .{export_format}") + f"  {whole.seconds / direct.seconds:.2f}x baseline")
            one_day = await export(base, f"/v1/open/{dataset.id}.csv", end_ms - DAY_MS, end_ms, trace=True)
            traced = await export(base, f"/v1/open/{dataset.id}.csv", start_ms, end_ms, trace=True)
            print(one_day.line("traced .csv, 1 day"))
            print(traced.line(f"traced .csv, {args.days} days"))
            print(
                f"memory: peak {traced.peak_bytes / max(1, one_day.peak_bytes):.2f}x the one-day export's "
                f"for {traced.bytes / max(1, one_day.bytes):.0f}x the bytes"
            )
        finally:
            server.should_exit = True
            await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--dataset", default="air-quality", choices=[d.id for d in DATASETS.values() if d.source.tier is None]
    )
    parser.add_argument("--formats", nargs="+", default=["csv", "geojson", "senml"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opendata-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
