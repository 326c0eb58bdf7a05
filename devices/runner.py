"""One worker's simulation: its devices, their sessions, the network server, the scheduler and the pinger.

:class:`Simulation` runs in the current event loop (the CLI with one worker, the tests) or inside each worker
process (:mod:`devices.workers`). ``await sim.run(stop)`` returns the final stats snapshot after a clean
shutdown: every session publishes a retained ``offline`` status and DISCONNECTs, so no will fires.

The devices themselves are built by :func:`devices.fleet.build_fleet`; this module runs them: one task per
broadband session, the network server, one scheduler heap that calls every device when it is due, the pinger,
and in load mode the gate that holds publishing until every session is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from devices.broadband import BroadbandDevice
from devices.fleet import build_fleet
from devices.narrowband import NarrowbandDevice
from devices.run_options import RunOptions
from devices.session import MqttSession
from devices.settings import SimulatorSettings
from devices.snapshot import Snapshot
from smartcity.city.model import City, Device

log = logging.getLogger(__name__)
_TICK_S = 0.005


class Emitter(Protocol):
    @property
    def ready(self) -> bool:
        """False until the device can send at all (its first session, or the network server, is up)."""

    def emit(self, now_wall: float) -> float | None: ...


class ConnectPacer:
    """Spaces connection attempts ``1/rate`` apart so thousands of devices do not hit the broker at once."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._next = 0.0

    def __call__(self) -> asyncio.Future[None] | None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self._gap
        if slot <= now:
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        loop.call_at(loop.time() + (slot - now), _resolve, future)
        return future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Simulation:
    """The devices of one worker. Build it, then ``await run(stop)``."""

    def __init__(
        self,
        settings: SimulatorSettings,
        city: City,
        devices: Sequence[Device],
        options: RunOptions,
        *,
        password_for: Callable[[str], str] | None = None,
        netserver_password: str | None = None,
        worker: int = 0,
        workers: int = 1,
    ) -> None:
        self.settings = settings
        self.options = options
        fleet = build_fleet(
            settings,
            city,
            devices,
            options,
            password_for=password_for,
            netserver_password=netserver_password,
            worker=worker,
            workers=workers,
        )
        self.stats = fleet.stats
        self.run_ctx = fleet.run_ctx
        self.broadband = fleet.broadband
        self.server = fleet.server
        self.narrowband = fleet.narrowband
        self._truth = fleet.truth
        self._pacer = ConnectPacer(settings.connect_rate)
        self.started = asyncio.Event()
        self._gate_opened = asyncio.Event()

    @property
    def connected(self) -> int:
        return sum(1 for device in self.broadband if device.connected)

    async def wait_connected(self, timeout_s: float = 30.0) -> None:
        """Until every live broadband device and the network server are connected (for tests and benchmarks)."""
        async with asyncio.timeout(timeout_s):
            # Polling a count: one event per session would cost more than this loop for a once-per-run wait.
            while self.connected < sum(1 for d in self.broadband if not d.core.dead):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            if self.server is not None:
                await self.server.online.wait()

    async def run(self, stop: asyncio.Event) -> Snapshot:
        """Run until ``stop`` is set or the duration is over; then shut down cleanly and return the snapshot."""
        loop = asyncio.get_running_loop()
        duration = self.options.duration_s
        deadline = None if duration is None else loop.time() + duration
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(d.run(self._pacer), name=f"device-{d.device_id}") for d in self.broadband]
                if self.server is not None:
                    tasks.append(group.create_task(self.server.run(), name="netserver"))
                    # Narrowband devices wait for their network; a stop or the deadline still ends the run.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(deadline):
                            await _either(stop, self.server.online)
                if not self.run_ctx.gate_open:
                    tasks.append(group.create_task(self._open_gate(), name="gate"))
                tasks.append(group.create_task(self._schedule(), name="scheduler"))
                tasks.append(group.create_task(self._ping(), name="pinger"))
                self.started.set()
                if not self.run_ctx.gate_open and not stop.is_set():
                    # Load mode: the duration is the publishing time, counted once every session is up.
                    await _either(stop, self._gate_opened)
                    deadline = None if duration is None else loop.time() + duration
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        await stop.wait()
                await self._shutdown()
                for task in tasks:
                    task.cancel()
        finally:
            self.run_ctx.stopping = True
            for session in self._open_sessions():
                session.abort()  # only sessions that a failure left behind; a clean run has none
            if self._truth is not None:
                self._truth.close()
        self.stats.gauges["connected"] = 0
        self.stats.gauges["workers_running"] = 0
        return self.stats.snapshot(with_ledger=True)

    def _open_sessions(self) -> list[MqttSession]:
        found = [device.session for device in self.broadband if device.session is not None]
        if self.server is not None and self.server.session is not None:
            found.append(self.server.session)
        return [session for session in found if session.connected]

    async def _open_gate(self) -> None:
        """Load mode: publishing starts when every session is up (or after a minute, whatever is up by then)."""
        try:
            await self.wait_connected(timeout_s=60.0)
        except TimeoutError:
            self.stats.error(f"load mode: only {self.connected} of {len(self.broadband)} sessions up after 60 s")
        now = self.run_ctx.clock.sim_ms()
        for device in self.broadband:
            device.core.restart_schedule(now)  # no catch-up burst for the time spent connecting
        self.run_ctx.gate_open = True
        self._gate_opened.set()

    async def _shutdown(self) -> None:
        self.run_ctx.stopping = True
        limit = asyncio.Semaphore(1000)

        async def one(device: BroadbandDevice) -> None:
            async with limit:
                await device.shutdown()

        await asyncio.gather(*(one(device) for device in self.broadband))
        if self.server is not None:
            await self.server.shutdown()

    async def _schedule(self) -> None:
        """Calls each device's ``emit`` when it is due (a heap of due times; one task for every device)."""
        order = itertools.count()
        devices: list[BroadbandDevice | NarrowbandDevice] = [*self.broadband, *self.narrowband]
        heap: list[tuple[float, int, Emitter]] = [(d.core.next_due_wall(), next(order), d) for d in devices]
        heapq.heapify(heap)
        while heap:
            now = time.monotonic()
            while heap and heap[0][0] <= now:
                _, _, device = heapq.heappop(heap)
                if not device.ready:
                    # Not installed yet: readings start once the device is first online (backfill included), so
                    # a connection storm does not also fill thousands of buffers.
                    heapq.heappush(heap, (now + 0.1, next(order), device))
                    continue
                due = device.emit(now)
                if due is not None:
                    heapq.heappush(heap, (max(due, now + _TICK_S), next(order), device))
            delay = (heap[0][0] - time.monotonic()) if heap else 1.0
            await asyncio.sleep(min(1.0, max(_TICK_S, delay)))

    async def _ping(self) -> None:
        keepalive = self.settings.mqtt.keepalive_s
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for device in self.broadband:
                session = device.session
                if session is not None and session.connected:
                    session.ping_if_idle(now, keepalive)
            if self.server is not None and self.server.session is not None:
                self.server.session.ping_if_idle(now, keepalive)

    def snapshot(self) -> Snapshot:
        """Current stats with fresh gauges (connected sessions, CPU seconds, resident memory)."""
        gauges = self.stats.gauges
        gauges["connected"] = self.connected
        gauges["workers_running"] = 1
        gauges["cpu_s"] = round(time.process_time(), 3)
        gauges["rss_bytes"] = _rss_bytes()
        return self.stats.snapshot()


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Until one of two events is set."""
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()


def _rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
