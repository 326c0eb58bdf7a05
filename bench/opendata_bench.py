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
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from services.api.app import create_app
from services.api.catalogue import CityIndex
from services.api.settings import ApiSettings
from services.opendata.datasets import DATASETS, OpenDataset
from services.opendata.exports.reader import chunks, statement
from services.opendata.exports.request import export_request
from smartcity.city.generate import generate_city
from smartcity.city.model import City
from smartcity.influx.client import InfluxClient
from smartcity.localservices import InfluxdProcess
from smartcity.settings import InfluxSettings
from tests.support.opendata_load import Run, export, sensors, write_readings

DAY_MS = 86_400_000
BATCH_LINES = 5_000
DATABASE = "opendata_bench"


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
        influx = InfluxSettings(url=influxd.url, database=DATABASE, timeout_s=300.0)
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
