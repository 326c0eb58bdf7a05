"""Running a simulation in this process or in several worker processes, with snapshots for the live view.

One worker runs in the caller's process. With ``workers`` > 1 the devices are dealt round-robin to spawned
processes (each with its own event loop, sessions and stats); they report snapshots over a queue every half
second and their final ledger at the end. SIGINT/SIGTERM stop every worker cleanly (retained ``offline``,
DISCONNECT, no will) before the summary is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import resource
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import msgspec

from devices.run_options import RunOptions
from devices.runner import Simulation
from devices.settings import SimulatorSettings
from devices.snapshot import Snapshot, Summary, merge_snapshots, summarize
from smartcity.city.credentials import CredentialsError, device_password, read_or_create_secret, service_password
from smartcity.city.model import City, Device

SnapshotSink = Callable[[Snapshot], None]
_SNAPSHOT_EVERY_S = 0.5


def raise_fd_limit() -> int:
    """Lift this process's open-file soft limit to the hard limit (one socket per device session)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def credentials(settings: SimulatorSettings) -> tuple[Callable[[str], str] | None, str | None]:
    """(device id -> password, network-server password) derived from the deployment secret (as ``smartcity city
    credentials`` derives them); without a secret, devices connect without credentials and the network server
    uses ``mqtt.username``/``mqtt.password`` when given."""
    if settings.device_secret is not None:
        secret = settings.device_secret.get_secret_value().encode()
    elif settings.device_secret_file is not None:
        if not settings.device_secret_file.is_file():
            raise CredentialsError(f"device secret file {settings.device_secret_file} does not exist")
        secret = read_or_create_secret(settings.device_secret_file)
    else:
        password = settings.mqtt.password.get_secret_value() if settings.mqtt.password else None
        return None, password
    return (lambda device_id: device_password(secret, device_id)), service_password(secret, settings.netserver_username)


async def run_here(
    settings: SimulatorSettings,
    city: City,
    devices: Sequence[Device],
    options: RunOptions,
    sink: SnapshotSink | None = None,
    *,
    worker: int = 0,
    workers: int = 1,
) -> Snapshot:
    """Run in the current process until the duration ends or SIGINT/SIGTERM; returns the final snapshot."""
    password_for, netserver_password = credentials(settings)
    sim = Simulation(
        settings,
        city,
        devices,
        options,
        password_for=password_for,
        netserver_password=netserver_password,
        worker=worker,
        workers=workers,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # A worker blocks both signals until here (see _worker_entry): one that came early is delivered now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    async def report() -> None:
        while sink is not None:
            await asyncio.sleep(_SNAPSHOT_EVERY_S)
            sink(sim.snapshot())

    reporter = asyncio.create_task(report(), name="reporter")
    try:
        return await sim.run(stop)
    finally:
        reporter.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run_simulation(
    settings: SimulatorSettings,
    city: City,
    devices: Sequence[Device],
    options: RunOptions,
    sink: SnapshotSink | None = None,
) -> Summary:
    """Run with ``settings.workers`` processes; returns the merged summary (counters, faults, device ledger)."""
    raise_fd_limit()
    started = time.monotonic()
    if settings.workers == 1:
        final = _run_loop(settings, run_here(settings, city, devices, options, sink))
    else:
        final = _run_processes(settings, city, devices, options, sink)
    return summarize(final, devices_run=len(devices), elapsed_s=time.monotonic() - started)


def _run_loop(settings: SimulatorSettings, main: Coroutine[Any, Any, Snapshot]) -> Snapshot:
    if settings.event_loop == "uvloop":
        import uvloop

        result: Snapshot = uvloop.run(main)
        return result
    return asyncio.run(main)


def _worker_entry(
    settings_json: str,
    city: City,
    devices: list[Device],
    options: RunOptions,
    worker: int,
    workers: int,
    channel: multiprocessing.Queue[tuple[str, int, Snapshot]],
) -> None:
    # Held until run_here installed its handlers, so a stop request during start-up is not a kill.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    settings = SimulatorSettings.model_validate_json(settings_json)
    raise_fd_limit()

    def sink(snapshot: Snapshot) -> None:
        channel.put(("snapshot", worker, snapshot))

    final = _run_loop(settings, run_here(settings, city, devices, options, sink, worker=worker, workers=workers))
    channel.put(("final", worker, final))


def _drain(channel: multiprocessing.Queue[tuple[str, int, Snapshot]], finals: dict[int, Snapshot]) -> None:
    while True:
        try:
            kind, worker, snapshot = channel.get(timeout=1.0)
        except queue.Empty:
            return
        if kind == "final":
            finals[worker] = snapshot


def _run_processes(
    settings: SimulatorSettings,
    city: City,
    devices: Sequence[Device],
    options: RunOptions,
    sink: SnapshotSink | None,
) -> Snapshot:
    context = multiprocessing.get_context("spawn")
    channel: multiprocessing.Queue[tuple[str, int, Snapshot]] = context.Queue()
    count = settings.workers
    shares = [list(devices[index::count]) for index in range(count)]
    processes = [
        context.Process(
            target=_worker_entry,
            args=(settings.model_dump_json(), city, share, options, index, count, channel),
            name=f"simulate-worker-{index}",
        )
        for index, share in enumerate(shares)
    ]
    for process in processes:
        process.start()

    def forward(signum: int, _frame: object) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    latest: dict[int, Snapshot] = {}
    finals: dict[int, Snapshot] = {}
    try:
        while len(finals) < count:
            try:
                kind, worker, snapshot = channel.get(timeout=_SNAPSHOT_EVERY_S)
            except queue.Empty:
                if not any(process.is_alive() for process in processes):
                    _drain(channel, finals)  # a worker may have exited right after its last put
                    break
                continue
            (finals if kind == "final" else latest)[worker] = snapshot
            if sink is not None and len(latest.keys() | finals.keys()) == count:  # a sum needs every worker
                sink(merge_snapshots([finals[w] if w in finals else latest[w] for w in range(count)]))
    finally:
        for process in processes:
            process.join(timeout=30)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    merged = merge_snapshots(list(finals.values()))
    missing = count - len(finals)
    if missing:
        merged = msgspec.structs.replace(
            merged,
            errors=[*merged.errors, f"{missing} worker process(es) ended without a summary"],
            counters=msgspec.structs.replace(merged.counters, errors=merged.counters.errors + missing),
        )
    return merged
