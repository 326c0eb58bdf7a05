"""One worker's simulation: its devices, their sessions, the network server, the scheduler and the pinger.

:class:`Simulation` runs in the current event loop (the CLI with one worker, the tests) or inside each worker
process (:mod:`devices.workers`). ``await sim.run(stop)`` returns the final stats snapshot after a clean
shutdown: every session publishes a retained ``offline`` status and DISCONNECTs, so no will fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devices.broadband import BroadbandDevice, BrokerTarget
from devices.clock import SimClock, now_ms
from devices.device_core import RunContext
from devices.faults import NO_FAULTS, FaultPlan
from devices.narrowband import NarrowbandDevice
from devices.netserver import NetworkServer, ServerAccount
from devices.session import MqttSession
from devices.settings import SimulatorSettings
from devices.signals import SignalModel
from devices.stats import RunStats
from smartcity.city.model import City, Device, NetworkClass
from smartcity.contract.topics import TopicScheme

log = logging.getLogger(__name__)
_TICK_S = 0.005


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What one run does (the command-line flags)."""

    seed: int = 0
    speed: float = 1.0
    duration_s: float | None = None
    backfill_s: float = 0.0
    backfill_rate: float = 5000.0
    """Readings per second (all devices) while backfilling; sets the backfill's simulated speed."""
    start_ms: int | None = None
    faults: FaultPlan = field(default_factory=lambda: NO_FAULTS)
    rate: float | None = None
    """Load mode: total readings per second over the selected broadband devices (narrowband ones are left out)."""
    coverage_loss: float = 0.0
    """Share of hours a narrowband device spends out of coverage."""
    burst: int = 1
    """Readings per wake of a broadband device (sent in one write); the reading rate does not change."""


class Emitter(Protocol):
    @property
    def ready(self) -> bool:
        """False until the device can send at all (its first session, or the network server, is up)."""

    def emit(self, now_wall: float) -> float | None: ...


def local_ipv6_addresses() -> frozenset[str]:
    """The IPv6 addresses configured on this machine (Linux ``/proc/net/if_inet6``); empty elsewhere."""
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return frozenset()
    found = set()
    for line in lines:
        raw = line.split()[0]
        found.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(raw)))
    return frozenset(found)


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
        self.stats = RunStats()
        model = SignalModel(city, options.seed, utc_offset_h=settings.utc_offset_h)
        broadband = [d for d in devices if d.network is NetworkClass.BROADBAND]
        narrowband = [d for d in devices if d.network is NetworkClass.NARROWBAND] if options.rate is None else []
        start = options.start_ms if options.start_ms is not None else now_ms()
        clock = SimClock(
            start_ms=start,
            speed=options.speed if options.rate is None else 1.0,
            backfill_s=options.backfill_s,
            backfill_speed=_backfill_speed(options, devices),
        )
        interval = None
        if options.rate is not None:
            interval = max(1, len(broadband) * workers) / options.rate
        self.run_ctx = RunContext(
            scheme=TopicScheme(settings.mqtt.topic_root),
            clock=clock,
            model=model,
            stats=self.stats,
            interval_override_s=interval,
            gate_open=options.rate is None,
            burst=options.burst,
        )
        mqtt = settings.mqtt
        target = BrokerTarget(
            host=mqtt.host,
            port=mqtt.port,
            keepalive_s=mqtt.keepalive_s,
            session_expiry_s=settings.session_expiry_s,
            max_inflight=settings.max_inflight,
            reconnect_min_s=settings.reconnect_min_s,
            reconnect_max_s=settings.reconnect_max_s,
            password_for=password_for,
            local_addresses=local_ipv6_addresses(),
        )
        run_s = options.duration_s
        self.broadband = [
            BroadbandDevice(
                model.context(d), self.run_ctx, options.faults.for_device(options.seed, d.id, run_s), target
            )
            for d in broadband
        ]
        self.server: NetworkServer | None = None
        self.narrowband: list[NarrowbandDevice] = []
        if narrowband:
            account = ServerAccount(
                host=mqtt.host,
                port=mqtt.port,
                client_id=f"{settings.netserver_username}-{mqtt.topic_root}-{worker}",
                username=settings.netserver_username if netserver_password is not None else None,
                password=netserver_password,
                keepalive_s=mqtt.keepalive_s,
                reconnect_min_s=settings.reconnect_min_s,
                reconnect_max_s=settings.reconnect_max_s,
            )
            self.server = NetworkServer(self.run_ctx, account)
            self.narrowband = [
                NarrowbandDevice(
                    model.context(d),
                    self.run_ctx,
                    options.faults.for_device(options.seed, d.id, run_s),
                    self.server,
                    coverage_loss=options.coverage_loss,
                )
                for d in narrowband
            ]
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

    async def run(self, stop: asyncio.Event) -> dict[str, Any]:
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

    def snapshot(self) -> dict[str, Any]:
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


def _backfill_speed(options: RunOptions, devices: Sequence[Device]) -> float:
    """Simulated seconds per wall second while backfilling, so that all devices together publish about
    ``backfill_rate`` readings per second."""
    if not devices:
        return 3600.0
    per_second = sum(1.0 / device.report_interval_s for device in devices)
    return max(1.0, options.backfill_rate / per_second)
