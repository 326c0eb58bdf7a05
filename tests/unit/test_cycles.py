"""The workers' cycle loop: a cycle failing on InfluxDB is counted, the worker forgets what it read, the loop
backs off and goes on; preparation is retried until it gets through; a backlog runs the next cycle at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter

from services.cycles import finish, run_cycles
from smartcity.influx.errors import InfluxUnavailable


class Worker:
    def __init__(self, stop: asyncio.Event, outcomes: list[str]) -> None:
        self.backlog = 0
        self.stop, self.outcomes, self.cycles = stop, outcomes, 0

    async def cycle(self, *, stopping: Callable[[], bool]) -> int:
        self.cycles += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "done"
        if outcome == "fail":
            raise InfluxUnavailable("influxd went away")
        self.backlog = 2 if outcome == "behind" else 0
        if outcome == "done":
            self.stop.set()
        return 1


async def test_failures_are_counted_forgotten_and_retried_and_a_backlog_runs_at_once() -> None:
    stop = asyncio.Event()
    worker = Worker(stop, ["fail", "behind", "behind", "done"])
    registry = CollectorRegistry()
    failures = Counter("failures", "cycles failed", registry=registry)
    state: dict[str, str] = {}
    forgotten: list[int] = []
    prepared: list[int] = []

    async def prepare() -> None:
        prepared.append(1)
        if len(prepared) == 1:
            raise InfluxUnavailable("not yet")

    await asyncio.wait_for(
        run_cycles(
            worker,
            stop=stop,
            interval_s=3600,  # a cycle without backlog would wait an hour: the test ends only if backlogs run at once
            state=state,
            failures=failures,
            what="test",
            forget=lambda: forgotten.append(1),
            prepare=prepare,
        ),
        timeout=10,
    )
    assert len(prepared) == 2  # retried until it got through, then never again
    assert worker.cycles == 4
    assert registry.get_sample_value("failures_total") == 2  # the preparation and the first cycle
    assert len(forgotten) == 2
    assert state["influxdb"] == "ok"


async def test_the_cycle_in_progress_is_given_its_drain_time_then_cancelled() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    task = asyncio.create_task(slow())
    await finish(task, 0.05, "test pass")
    await asyncio.sleep(0)
    assert task.cancelled()
