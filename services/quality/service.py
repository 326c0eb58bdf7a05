"""``run(settings)``: the quality process. Owns its InfluxDB client in one ``async with`` and its loop in one
TaskGroup.

Start: read the open flags and the progress back (:meth:`QualityWorker.load`). Then one cycle after another
(:mod:`services.quality.worker`), at once while a backlog remains, else every ``interval_s``; a failed cycle is
retried with backoff from the recorded progress and the stored flags. Shutdown (SIGTERM/SIGINT or ``stop`` set):
the hour pass in progress is finished and recorded, the HTTP endpoints closed, the client closed; exit 0.
"""

from __future__ import annotations

import asyncio
import logging

from services.cycles import finish, run_cycles
from services.quality.metrics import QualityMetrics
from services.quality.settings import QualitySettings
from services.quality.worker import QualityWorker
from smartcity.city.load import load_city
from smartcity.httpendpoints import HttpEndpoints, serve_http
from smartcity.influx.client import InfluxClient
from smartcity.stopsignals import stop_on_signals

log = logging.getLogger(__name__)

_DRAIN_TIMEOUT_S = 60.0


async def run(settings: QualitySettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the worker until ``stop`` is set or SIGTERM/SIGINT arrives."""
    with stop_on_signals(stop or asyncio.Event()) as stopping:
        await _run(settings, stopping)


async def _run(settings: QualitySettings, stop: asyncio.Event) -> None:
    city = load_city(settings.city_file)
    metrics = QualityMetrics()
    config = settings.worker_config()
    state = {"influxdb": "starting"}
    async with InfluxClient(settings.influx) as influx:
        worker = QualityWorker(influx, city, config, metrics)
        endpoints = HttpEndpoints(metrics.registry, lambda: dict(state))
        port_file = settings.state_dir / "http.port"
        async with serve_http(endpoints, settings.http_host, settings.http_port, port_file) as port:
            log.info(
                "quality worker started: InfluxDB %s/%s, %d devices, http port %d",
                settings.influx.url,
                settings.influx.database,
                len(city.devices),
                port,
            )

            def forget() -> None:  # read back the stored flags and progress
                worker.book = None
                worker.progress = None

            loop = run_cycles(
                worker,
                stop=stop,
                interval_s=settings.interval_s,
                state=state,
                failures=metrics.failures,
                what="quality",
                forget=forget,
            )
            async with asyncio.TaskGroup() as tasks:
                loop_task = tasks.create_task(loop, name="quality-loop")
                await stop.wait()
                await finish(loop_task, _DRAIN_TIMEOUT_S, "hour pass")
    log.info("quality worker stopped")
