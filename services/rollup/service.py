"""``run(settings)``: the roll-up process. Owns its clients in one ``async with`` and its tasks in one TaskGroup.

Start: create the tiers' retention policies, read progress; the expiry of datasets with a retention of their own
runs beside the cycles (:mod:`services.lifecycle.expiry`). Then one cycle after another (:mod:`services.rollup
.worker`), at once while a backlog remains, else every ``interval_s``; a failed cycle is retried with backoff from
the recorded progress. Shutdown (SIGTERM/SIGINT or ``stop`` set): the window being computed is finished, progress
recorded, the HTTP endpoints closed, the clients closed; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.lifecycle.expiry import expire_every
from services.rollup.metrics import RollupMetrics
from services.rollup.settings import RollupSettings
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.windows import LocalDays
from services.rollup.worker import RollupWorker, WorkerConfig
from smartcity.backoff import Backoff
from smartcity.city.load import load_city
from smartcity.httpendpoints import HttpEndpoints, serve_http
from smartcity.influx.client import InfluxClient
from smartcity.influx.errors import InfluxError
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
            async with asyncio.TaskGroup() as tasks:
                loop_task = tasks.create_task(_loop(settings, worker, stop, state, metrics), name="rollup-loop")
                expiry_task = tasks.create_task(
                    expire_every(influx, settings.expire_interval_s, stop), name="dataset-expiry"
                )
                await stop.wait()
                try:
                    await asyncio.wait_for(asyncio.shield(loop_task), _DRAIN_TIMEOUT_S)
                except TimeoutError:
                    log.warning("shutdown: the window in progress did not finish in %.0f s", _DRAIN_TIMEOUT_S)
                    loop_task.cancel()
                expiry_task.cancel()
    log.info("roll-up worker stopped")


async def _loop(
    settings: RollupSettings, worker: RollupWorker, stop: asyncio.Event, state: dict[str, str], metrics: RollupMetrics
) -> None:
    """Cycles until ``stop``: the check between cycles is what lets SIGTERM finish the window in progress."""
    backoff = Backoff(0.5, 30.0)
    prepared = False
    while not stop.is_set():
        try:
            if not prepared:
                await ensure_retention(worker.influx, settings.policy, apply_raw=settings.apply_raw_retention)
                prepared = True
            await worker.cycle(stopping=stop.is_set)
        except InfluxError as exc:
            metrics.failures.inc()
            state["influxdb"] = f"down: {str(exc)[:200]}"
            delay = backoff.next_delay()
            log.warning("roll-up cycle failed (%s); retrying in %.1f s from the recorded progress", exc, delay)
            worker.progress = None  # re-read: a cycle may have stopped between a write and its progress
            await _sleep(stop, delay)
            continue
        backoff.reset()
        state["influxdb"] = "ok" if not worker.backlog else f"degraded: catching up, {worker.backlog} hours behind"
        if not worker.backlog:
            await _sleep(stop, settings.interval_s)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
