"""The timed part of the roll-up benchmark, run as a script in a process of its own, so that the same steps time
whichever implementation ``PYTHONPATH`` puts first: this checkout's, or an earlier commit's.

    python bench/rollup_timing.py '<json: url, database, pid, timezone, start_ms, end_ms, catchup_hours, repeat>'

It imports only what every version of the worker has (``compute_hour``, ``TierClients``, ``RollupWorker``...),
never ``bench.*`` (an earlier checkout has no such module), and prints one JSON object:

- ``catchup``: the worker's own cycles after ``catchup_hours`` hours down: progress recorded at ``start_ms``, the
  clock ``catchup_hours`` hours and the settle time later; wall seconds until no closed hour is left, and the
  hours and local days computed;
- ``hour``: ``compute_hour`` of the last hour before ``end_ms``, ``repeat`` times (wall, this process's CPU and
  influxd's CPU seconds each, and the points written);
- ``queries``: the statements that one computation sent, replayed one after another straight to ``/query``
  (the bytes read, not decoded): what influxd needs just to answer them;
- ``digest``: SHA-256 of InfluxDB's answer for the hour's 1m and 1h roll-ups, to compare two implementations.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx

from services.rollup.compute import compute_hour
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker, WorkerConfig
from smartcity.influx.client import InfluxClient, ParamValue, Series
from smartcity.localservices.probes import cpu_seconds
from smartcity.rollups import DAY, HOUR, HOUR_MS, MINUTE, NS_PER_MS, LocalDays, RollupPolicy, progress_line
from smartcity.settings import InfluxSettings

SETTLE_S = 120
LOOKBACK_MS = 86_400_000
KEEP_FOR_EVER = RollupPolicy(minute_days=0, hour_days=0, day_days=0)
"""The data set lies in 2025: tiers with a finite duration would refuse its roll-ups as too old."""


class _HourTimes(logging.Handler):
    """The seconds of each hour the worker computed, from its own DEBUG line (every version logs it)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("hour %s:") and isinstance(record.args, tuple):
            self.seconds.append(float(str(record.args[-1])))


class _Recording:
    """The store, remembering each statement it was asked."""

    def __init__(self, inner: InfluxClient) -> None:
        self.inner = inner
        self.asked: list[tuple[str, dict[str, ParamValue]]] = []

    async def query(self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms") -> list[Series]:
        self.asked.append((q, dict(params or {})))
        return await self.inner.query(q, params, epoch=epoch)


async def _catch_up(influx: InfluxClient, tiers: TierClients, job: dict[str, Any]) -> dict[str, Any]:
    days = LocalDays(job["timezone"])
    start = job["start_ms"]
    progress = [progress_line(tier.name.value, start) for tier in (MINUTE, HOUR)]
    progress.append(progress_line(DAY.name.value, days.start_of(start)))
    await influx.write("\n".join(progress).encode())
    until = start + job["catchup_hours"] * HOUR_MS
    config = WorkerConfig(
        settle_s=SETTLE_S, max_windows_per_cycle=24, start_lookback_h=24, raw_days=35, register_lookback_s=86_400
    )
    metrics = RollupMetrics()
    worker = RollupWorker(influx, tiers, days, config, metrics, clock=lambda: (until + SETTLE_S * 1000 + 1000) / 1000)
    times = _HourTimes()
    worker_log = logging.getLogger("services.rollup.worker")
    worker_log.setLevel(logging.DEBUG)
    worker_log.addHandler(times)
    started, cpu, influxd_cpu = time.perf_counter(), time.process_time(), cpu_seconds(job["pid"])
    hours = 0
    for _ in range(1000):
        hours += await worker.cycle()
        if not worker.backlog:
            break
    worker_log.removeHandler(times)
    return {
        "hour_seconds": times.seconds,
        "seconds": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "influxd_cpu_s": cpu_seconds(job["pid"]) - influxd_cpu,
        "hours": hours,
        "days": metrics.registry.get_sample_value("smartcity_rollup_windows_total", {"tier": "1d"}) or 0,
    }


async def _hour(influx: InfluxClient, tiers: TierClients, job: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    hour = job["end_ms"] - HOUR_MS
    runs: list[dict[str, Any]] = []
    recording = _Recording(influx)
    for index in range(job["repeat"]):
        started, cpu, influxd_cpu = time.perf_counter(), time.process_time(), cpu_seconds(job["pid"])
        result = await compute_hour(recording if index == 0 else influx, tiers, hour, register_lookback_ms=LOOKBACK_MS)
        runs.append(
            {
                "seconds": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu,
                "influxd_cpu_s": cpu_seconds(job["pid"]) - influxd_cpu,
                "minute_points": result.minute_points,
                "hour_points": result.hour_points,
            }
        )
    return runs, recording.asked


async def _replay(http: httpx.AsyncClient, database: str, asked: list[tuple[str, dict[str, ParamValue]]]) -> float:
    started = time.perf_counter()
    for q, params in asked:
        arguments = {"q": q, "db": database, "epoch": "ms", "params": json.dumps(params)}
        (await http.get("/query", params=arguments)).raise_for_status()
    return time.perf_counter() - started


async def _digest(http: httpx.AsyncClient, database: str, hour: int) -> str:
    digest = hashlib.sha256()
    params = json.dumps({"start": hour * NS_PER_MS, "end": (hour + HOUR_MS) * NS_PER_MS})
    for policy in ("rp_1m", "rp_1h"):
        q = f'SELECT * FROM "{database}"."{policy}"./.*/ WHERE time >= $start AND time < $end GROUP BY *'
        answer = await http.get("/query", params={"q": q, "db": database, "epoch": "ms", "params": params})
        answer.raise_for_status()
        digest.update(answer.content)
    return digest.hexdigest()[:16]


async def main(job: dict[str, Any]) -> dict[str, Any]:
    settings = InfluxSettings(url=job["url"], database=job["database"], timeout_s=300)
    async with (
        InfluxClient(settings) as influx,
        TierClients(settings) as tiers,
        httpx.AsyncClient(base_url=job["url"], timeout=300, trust_env=False) as http,
    ):
        await ensure_retention(influx, KEEP_FOR_EVER, apply_raw=False)
        catchup = await _catch_up(influx, tiers, job) if job["catchup_hours"] else None
        runs, asked = await _hour(influx, tiers, job)
        queries_s = await _replay(http, job["database"], asked)
        digest = await _digest(http, job["database"], job["end_ms"] - HOUR_MS)
    return {
        "catchup": catchup,
        "hour": runs,
        "queries": {"seconds": queries_s, "statements": len(asked)},
        "digest": digest,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))  # the result, for the parent
