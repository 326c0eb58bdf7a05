"""``run(settings)``: the roll-up process. Owns its clients in one ``async with`` and its tasks in one TaskGroup.

Start: create the tiers' retention policies, read progress; the expiry of datasets with a retention of their own
runs beside the cycles (:mod:`services.lifecycle.expiry`). Then one cycle after another (:mod:`services.rollup
.worker`), at once while a backlog remains, else every ``interval_s``; a failed cycle is retried with backoff from
the recorded progress. Shutdown (SIGTERM/SIGINT or ``stop`` set): the window being computed is finished, progress
recorded, the HTTP endpoints closed, the clients closed; exit 0.
"""

from __future__ import annotations

import asyncio
import logging

from services.cycles import finish, run_cycles
from services.lifecycle.expiry import expire_every
from services.rollup.metrics import RollupMetrics
from services.rollup.settings import RollupSettings
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.windows import LocalDays
from services.rollup.worker import RollupWorker, WorkerConfig
from smartcity.city.load import load_city
from smartcity.httpendpoints import HttpEndpoints, serve_http
from smartcity.influx.client import InfluxClient
from smartcity.stopsignals import stop_on_signals

log = logging.getLogger(__name__)

_DRAIN_TIMEOUT_S = 60.0


async def run(settings: RollupSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the worker until ``stop`` is set or SIGTERM/SIGINT arrives."""
    with stop_on_signals(stop or asyncio.Event()) as stopping:
        await _run(settings, stopping)


async def _run(settings: RollupSettings, stop: asyncio.Event) -> None:
    city = load_city(settings.city_file)
    metrics = RollupMetrics()
    config = WorkerConfig(
        settle_s=settings.settle_s,
        max_windows_per_cycle=settings.max_windows_per_cycle,
        start_lookback_h=settings.start_lookback_h,
        raw_days=settings.policy.raw_days,
        register_lookback_s=settings.register_lookback_s,
    )
    state = {"influxdb": "starting"}
    async with InfluxClient(settings.influx) as influx, TierClients(settings.influx) as tiers:
        worker = RollupWorker(influx, tiers, LocalDays(city.timezone), config, metrics)
        endpoints = HttpEndpoints(metrics.registry, lambda: dict(state))
        port_file = settings.state_dir / "http.port"
        async with serve_http(endpoints, settings.http_host, settings.http_port, port_file) as port:
            log.info(
                "roll-up worker started: InfluxDB %s/%s, days in %s, http port %d",
                settings.influx.url,
                settings.influx.database,
                city.timezone,
                port,
            )

            def forget() -> None:
                worker.progress = None

            async def prepare() -> None:
                await ensure_retention(influx, settings.policy, apply_raw=settings.apply_raw_retention)

            loop = run_cycles(
                worker,
                stop=stop,
                interval_s=settings.interval_s,
                state=state,
                failures=metrics.failures,
                what="roll-up",
                forget=forget,
                prepare=prepare,
            )
            async with asyncio.TaskGroup() as tasks:
                loop_task = tasks.create_task(loop, name="rollup-loop")
                expiry_task = tasks.create_task(
                    expire_every(influx, settings.expire_interval_s, stop), name="dataset-expiry"
                )
                await stop.wait()
                await finish(loop_task, _DRAIN_TIMEOUT_S, "window")
                expiry_task.cancel()
    log.info("roll-up worker stopped")
