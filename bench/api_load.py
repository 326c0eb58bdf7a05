"""Closed-loop load: ``clients`` concurrent clients send requests back to back (no think time), each taking the
next request of a route's list in turn, until a fixed number have been answered. One process drives both the API
and, for the same route, the InfluxQL the API sent for it, straight to influxd, each client on a keep-alive
connection of its own (:mod:`bench.api_http`); the same client code on both sides, so the ratio compares the
servers.

Latency is from sending a request until its whole body has arrived (a direct request's body is read, not decoded:
the API's decoding is part of what the ratio shows). Both sides are asked with ``Accept-Encoding: gzip, deflate``,
as httpx and browsers ask: influxd and the API compress what they send. CPU seconds of the API process, influxd
and this process over each phase come from ``/proc``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.api_http import Connection, HttpError
from bench.api_proxy import InfluxRequest
from smartcity.localservices.probes import cpu_seconds

Op = Callable[[Connection], Awaitable[int]]
"""One request (or one route's sequence of InfluxDB requests); returns the bytes received, raises on failure."""


class LoadError(RuntimeError):
    """A request could not be made: the figures of its phase do not count."""


class Refused(LoadError):
    """The server answered, but not 200: counted in :attr:`Phase.failures`, the phase goes on."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {detail}")
        self.status = status


@dataclass
class Phase:
    route: str
    side: str
    """``api`` or ``influxdb`` (the route's InfluxQL sent directly)."""
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    received: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds over the phase: ``api``, ``influxd``, ``client``."""
    error: str | None = None
    """Why the phase stopped: its figures do not count."""
    others_cores: float = 0.0
    """CPU the rest of the machine used during the phase, in cores (a disturbed phase shows here)."""
    failures: Counter[int] = field(default_factory=Counter)
    """Timed requests answered with another status than 200, by status (not in the latencies)."""
    failure: str = ""
    """The first such answer."""

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0

    def cpu_ms_per_request(self, who: str) -> float:
        return 1000 * self.cpu_s.get(who, 0.0) / len(self.latencies_ms) if self.latencies_ms else float("nan")


def api_op(url: str, key: str) -> Op:
    headers = {"Authorization": f"Bearer {key}", "Accept-Encoding": "gzip, deflate"}  # as httpx and browsers send

    async def op(connection: Connection) -> int:
        status, body = await connection.request("GET", url, headers)
        if status != 200:
            raise Refused(status, f"GET {url}: {body[:300]!r}")
        return len(body)

    return op


def direct_op(requests: Sequence[InfluxRequest]) -> Op:
    """The route's InfluxDB requests one after the other, as the API sent them."""
    raw = [request.raw() for request in requests]

    async def op(connection: Connection) -> int:
        received = 0
        for method, target, headers, body in raw:
            status, answer = await connection.request(method, target, headers, body)
            if status != 200:
                raise Refused(status, f"influxd: {answer[:300]!r}")
            received += len(answer)
        return received

    return op


async def run_phase(
    phase: Phase,
    base_url: str,
    ops: Sequence[Op],
    *,
    clients: int,
    requests: int,
    warmup: int,
    pids: dict[str, int],
    limit_s: float = 60.0,
) -> Phase:
    """``warmup`` requests untimed, then ``requests`` timed ones, ``clients`` at a time; no new request is sent
    after ``limit_s`` (a phase of slow requests ends with fewer). A failed request ends the phase with ``error``."""
    connections = [Connection(base_url) for _ in range(clients)]
    try:
        await _drive(connections, ops, warmup, [], limit_s, Phase(phase.route, phase.side))
        before = {who: cpu_seconds(pid) for who, pid in pids.items()}
        machine_before, client_before, started = machine_busy_s(), time.process_time(), time.perf_counter()
        phase.received = await _drive(connections, ops, requests, phase.latencies_ms, limit_s, phase)
        phase.wall_s = time.perf_counter() - started
        phase.cpu_s = {who: cpu_seconds(pid) - before[who] for who, pid in pids.items()}
        phase.cpu_s["client"] = time.process_time() - client_before
        ours = sum(phase.cpu_s.values())
        phase.others_cores = max(0.0, machine_busy_s() - machine_before - ours) / phase.wall_s
    except* (LoadError, HttpError) as failed:
        phase.error = str(failed.exceptions[0])
    finally:
        for connection in connections:
            await connection.close()
    return phase


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (``/proc/stat``: all but idle and I/O wait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


async def _drive(
    connections: list[Connection], ops: Sequence[Op], total: int, out: list[float], limit_s: float, phase: Phase
) -> int:
    numbers = itertools.count()
    received = 0
    deadline = time.perf_counter() + limit_s

    async def one_client(connection: Connection) -> None:
        nonlocal received
        while (number := next(numbers)) < total and time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                received += await ops[number % len(ops)](connection)
            except Refused as refused:
                phase.failures[refused.status] += 1
                phase.failure = phase.failure or str(refused)
                continue
            out.append((time.perf_counter() - started) * 1000)

    async with asyncio.TaskGroup() as group:
        for index, connection in enumerate(connections[:total]):
            group.create_task(one_client(connection), name=f"client-{index}")
    return received
