"""The loop the roll-up and quality workers run: one cycle after another, at once while a backlog remains, else
every ``interval_s``; a cycle that fails on InfluxDB is retried with backoff from what the store recorded. At
shutdown the cycle in progress is given ``drain_s`` to finish (it asks ``stopping`` between its windows)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import Counter

from smartcity.backoff import Backoff
from smartcity.influx.errors import InfluxError

log = logging.getLogger(__name__)


class CycleWorker(Protocol):
    backlog: int
    """Closed hours still to do after the last cycle."""

    async def cycle(self, *, stopping: Callable[[], bool]) -> int: ...


async def run_cycles(
    worker: CycleWorker,
    *,
    stop: asyncio.Event,
    interval_s: float,
    state: dict[str, str],
    failures: Counter,
    what: str,
    forget: Callable[[], None],
    prepare: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Cycles until ``stop``: the check between cycles is what lets SIGTERM finish the one in progress. ``state``
    gets the InfluxDB health the endpoints report; ``forget`` drops what the worker holds of the store after a
    failure (a cycle may have stopped between a write and its progress); ``prepare`` runs once, before the first
    cycle that gets through it."""
    backoff = Backoff(0.5, 30.0)
    prepared = prepare is None
    while not stop.is_set():
        try:
            if not prepared and prepare is not None:
                await prepare()
                prepared = True
            await worker.cycle(stopping=stop.is_set)
        except InfluxError as exc:
            failures.inc()
            state["influxdb"] = f"down: {str(exc)[:200]}"
            delay = backoff.next_delay()
            log.warning("%s cycle failed (%s); retrying in %.1f s from the recorded progress", what, exc, delay)
            forget()
            await sleep_unless_stopped(stop, delay)
            continue
        backoff.reset()
        state["influxdb"] = "ok" if not worker.backlog else f"degraded: catching up, {worker.backlog} hours behind"
        if not worker.backlog:
            await sleep_unless_stopped(stop, interval_s)


async def finish(loop: asyncio.Task[None], drain_s: float, what: str) -> None:
    """After ``stop``: let the cycle in progress finish, for ``drain_s`` at most."""
    try:
        await asyncio.wait_for(asyncio.shield(loop), drain_s)
    except TimeoutError:
        log.warning("shutdown: the %s in progress did not finish in %.0f s", what, drain_s)
        loop.cancel()


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
