"""Bulk writes for the benchmark's data sets: lines per retention policy, 5,000-line ``/write`` bodies, two requests
in flight from threads while the caller computes the next lines; and a wait for influxd to go idle."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from types import TracebackType
from typing import Self

import httpx

from smartcity.localservices.probes import cpu_seconds

CHUNK_LINES = 5_000
WRITES_IN_FLIGHT = 2

_Body = tuple[str, bytes] | None


class BulkWriter:
    """``add(policy, lines)`` buffers per retention policy (``""``: the default one) and hands whole bodies to
    :data:`WRITES_IN_FLIGHT` writer threads; ``add`` blocks while that many bodies wait (backpressure). Leaving
    the ``with`` block writes the rest and raises the first refused write."""

    def __init__(self, url: str, database: str) -> None:
        self._url, self._database = url, database
        self._buffers: dict[str, list[str]] = {}
        self._queue: queue.Queue[_Body] = queue.Queue(maxsize=WRITES_IN_FLIGHT)
        self._failures: list[BaseException] = []
        self._threads = [threading.Thread(target=self._run, name=f"write-{i}") for i in range(WRITES_IN_FLIGHT)]
        self.points: Counter[str] = Counter()

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is None:
                for policy, lines in self._buffers.items():
                    if lines:
                        self._put(policy, lines)
        finally:
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join()
        if self._failures and exc is None:
            raise self._failures[0]

    def add(self, policy: str, lines: list[str]) -> None:
        buffer = self._buffers.setdefault(policy, [])
        buffer.extend(lines)
        while len(buffer) >= CHUNK_LINES:
            self._put(policy, buffer[:CHUNK_LINES])
            del buffer[:CHUNK_LINES]

    def _put(self, policy: str, lines: list[str]) -> None:
        if self._failures:
            raise self._failures[0]
        self.points[policy] += len(lines)
        self._queue.put((policy, "\n".join(lines).encode()))

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, trust_env=False, timeout=300.0) as http:
            while (item := self._queue.get()) is not None:
                policy, body = item
                params = {"db": self._database, "precision": "ms"} | ({"rp": policy} if policy else {})
                try:
                    answer = http.post("/write", params=params, content=body)
                    if answer.status_code != 204:
                        raise RuntimeError(f"influxd refused a write: {answer.status_code} {answer.text[:300]}")
                except Exception as exc:  # handed to the caller's thread; keep draining so nobody blocks
                    self._failures.append(exc)


def wait_idle(pid: int, *, at_least_s: float = 0.0, busy_share: float = 0.05, quiet_s: float = 10.0) -> float:
    """Wait until process ``pid`` has used under ``busy_share`` of a core for ``quiet_s`` seconds in a row (and
    ``at_least_s`` have passed); gives up after ten minutes. Returns the seconds waited."""
    started = time.monotonic()
    quiet_since = started
    before = cpu_seconds(pid)
    while time.monotonic() - started < 600:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        if now - before > busy_share:
            quiet_since = time.monotonic()
        before = now
        if time.monotonic() - quiet_since >= quiet_s and time.monotonic() - started >= at_least_s:
            break
    return time.monotonic() - started
