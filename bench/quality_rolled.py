"""The data-quality data set with its week rolled up: the real roll-up worker run once over a copy of the store,
the result kept beside the data set (``.cache/quality-bench/<seed>/rolled/``), so judging the week again (a new
threshold, a new detector) starts from the roll-ups instead of computing them anew.

    from bench.quality_rolled import rolled_serving

    with rolled_serving(data) as influx:     # an influxd on a copy of the rolled store
        ...

The marker ``rolled.json`` (written last) holds a key of the data set's own key and the roll-up modules; another
key rolls the week up again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.quality_data import QualityDataSet, serving
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker
from services.rollup.worker import WorkerConfig as RollupConfig
from smartcity.city.load import load_city
from smartcity.influx.client import InfluxClient
from smartcity.rollups import HOUR_MS, LocalDays
from smartcity.settings import InfluxSettings
from tests.support.faulty_city import HISTORY_RETENTION, SETTLED_MS

ROLLUP_MODULES = (
    "services.rollup.worker",
    "services.rollup.aggregate",
    "services.rollup.compute",
    "services.rollup.minutes",
    "services.rollup.windows",
    "services.rollup.tiers",
    "smartcity.rollups",
)


def judged_at_ms(data: QualityDataSet) -> int:
    return data.end_ms + SETTLED_MS


def lookback_hours(data: QualityDataSet) -> int:
    return (judged_at_ms(data) - data.start_ms) // HOUR_MS + 1


def rolled_key(data: QualityDataSet) -> str:
    digest = hashlib.sha256(str(data.manifest.get("key")).encode())
    for module in ROLLUP_MODULES:
        digest.update(Path(str(importlib.import_module(module).__file__)).read_bytes())
    return digest.hexdigest()[:16]


async def roll_up(data: QualityDataSet, influx_settings: InfluxSettings) -> None:
    """The real roll-up worker over the whole week, its clock held :data:`SETTLED_MS` after the end."""
    city = load_city(data.city_file)
    now_ms = judged_at_ms(data)
    async with InfluxClient(influx_settings) as influx, TierClients(influx_settings) as tiers:
        await ensure_retention(influx, HISTORY_RETENTION, apply_raw=False)  # the week lies in the past
        worker = RollupWorker(
            influx,
            tiers,
            LocalDays(city.timezone),
            RollupConfig(120, 1_000, lookback_hours(data), HISTORY_RETENTION.raw_days, 86_400),
            RollupMetrics(),
            clock=lambda: now_ms / 1000,
        )
        for _ in range(100):
            await worker.cycle()
            if not worker.backlog:
                break


def rolled_store(data: QualityDataSet) -> Path:
    """The influxd work dir of the rolled-up week, made the first time."""
    directory = data.directory / "rolled"
    marker = directory / "rolled.json"
    key = rolled_key(data)
    if marker.exists() and json.loads(marker.read_text()).get("key") == key:
        return directory / "influxd"
    shutil.rmtree(directory, ignore_errors=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="quality-rolled-", dir=data.directory) as scratch:
        with serving(data, workdir=Path(scratch)) as influx:
            asyncio.run(roll_up(data, influx))
        directory.mkdir()
        shutil.move(Path(scratch) / "influxd", directory / "influxd")
    seconds = time.perf_counter() - started
    marker.write_text(json.dumps({"key": key, "rolled_s": round(seconds, 1)}))
    print(f"  roll-ups: {seconds:.0f} s (kept in {directory})", flush=True)
    return directory / "influxd"


@contextmanager
def rolled_serving(data: QualityDataSet, *, workdir: Path | None = None) -> Iterator[InfluxSettings]:
    """An influxd on a copy of the rolled-up week (writes never reach the cache)."""
    rolled = dataclasses.replace(data, influx_dir=rolled_store(data))
    with serving(rolled, workdir=workdir) as influx:
        yield influx
