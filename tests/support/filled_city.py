"""The filled city: a generated city with a few simulated days of readings in InfluxDB, for tests that read.

The planning API, open-data, Grafana, quality and city-page tests all need a realistic city with history, and
starting and filling a stack per test area would cost minutes each. :func:`load_filled_city` writes one data set
into a database of its own on the session's influxd (the ``filled_city`` fixture of ``tests/conftest.py``):

1. the city from the project's generator and the imperfections planned on it (:mod:`tests.support.city_history`);
2. the encoded points from the cache (:mod:`tests.support.point_cache`), built first when the cache is missing or
   stale;
3. the window of ``days`` days that ends at the start of the current UTC hour (exclusive) and has the cached
   history's hour of day, shifted there by whole days, written in chunks of :data:`CHUNK_LINES` lines through the
   core's :class:`smartcity.influx.client.InfluxClient`.

The :class:`FilledCity` it returns says what was written, so a test can compute its expectations independently.
Tests only read this database; a test that writes uses a database of its own (``influx_settings``).
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import heapq
import itertools
import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from smartcity.city.model import City
from smartcity.influx.client import InfluxClient
from smartcity.settings import InfluxSettings
from tests.support.city_history import (
    DAY_MS,
    HOUR_MS,
    REFERENCE_END_MS,
    HistorySpec,
    Imperfection,
    ImperfectionKind,
    build_city,
    history_part,
    plan_imperfections,
)
from tests.support.point_cache import CACHE_DIR, cache_key, cache_path, read_cache, source_files, write_cache

log = logging.getLogger(__name__)

DATABASE = "filled_city"
CHUNK_LINES = 5_000
"""Lines per ``/write`` request."""
WRITES_IN_FLIGHT = 2
"""Requests at once: the next chunk is prepared while InfluxDB stores the previous ones."""
BUILD_WORKERS = 2
"""Processes that simulate the history: fixed, not the machine's core count, so the merged order never changes."""
DEFAULT_SPEC = HistorySpec()


@dataclass(frozen=True, slots=True)
class CacheUse:
    """How this load got its points (the figures docs/TESTING.md quotes)."""

    path: Path
    built: bool
    """True when the cache was missing or stale and the history was simulated in this load."""
    build_s: float
    """Seconds spent simulating and writing the cache file (0 when it was warm)."""
    load_s: float
    """Seconds from the start of the load until InfluxDB held every point (the build included)."""


@dataclass(frozen=True, slots=True)
class FilledCity:
    """What the filled-city database holds. Times are epoch milliseconds; ``end_ms`` is exclusive."""

    city: City
    influx: InfluxSettings
    """The database (``filled_city``) on the session's influxd."""
    spec: HistorySpec
    start_ms: int
    end_ms: int
    """The start of the UTC hour in which the data set was loaded: no point is at or after it."""
    imperfections: tuple[Imperfection, ...]
    points: Mapping[str, int]
    """Points written per measurement (each reading is one point per measurement it touches)."""
    cache: CacheUse

    @property
    def total_points(self) -> int:
        return sum(self.points.values())

    def imperfection(self, kind: ImperfectionKind) -> Imperfection:
        """The imperfection of one kind (there is one of each)."""
        return next(flaw for flaw in self.imperfections if flaw.kind is kind)


def load_filled_city(
    influx_url: str,
    *,
    spec: HistorySpec = DEFAULT_SPEC,
    database: str = DATABASE,
    cache_dir: Path = CACHE_DIR,
    now_ms: int | None = None,
) -> FilledCity:
    """Write the filled city into ``database`` at ``influx_url`` (created when missing) and describe it.

    Synchronous (it runs its own event loop), so a session fixture can call it. ``now_ms`` fixes the load
    instant for tests; the data set always ends at the start of its UTC hour.
    """
    started = time.perf_counter()
    city = build_city(spec)
    plan = plan_imperfections(city, spec)
    path = cache_path(cache_dir, spec)
    built, build_s = False, 0.0
    blocks: Iterable[list[str]]
    if path.exists():
        blocks = read_cache(path)
    else:
        blocks = [build_cache(path, spec)]
        built, build_s = True, time.perf_counter() - started
    end_ms = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) // HOUR_MS * HOUR_MS
    # The window of the cached history that ends at the same hour of day as end_ms; moved by whole days.
    window_end = -((REFERENCE_END_MS - end_ms) % DAY_MS)
    window_start = window_end - spec.days * DAY_MS
    to_absolute = end_ms - window_end
    settings = InfluxSettings(url=influx_url, database=database, timeout_s=60.0)
    counts: Counter[str] = Counter()
    asyncio.run(_write(settings, _bodies(blocks, window_start, window_end, to_absolute, counts)))
    start_ms = window_start + to_absolute
    cache = CacheUse(path=path, built=built, build_s=build_s, load_s=time.perf_counter() - started)
    log.info(
        "filled city: %d points in %s (%s, %.1f s)",
        sum(counts.values()),
        database,
        f"built in {build_s:.1f} s" if built else "from the cache",
        cache.load_s,
    )
    return FilledCity(
        city=city,
        influx=settings,
        spec=spec,
        start_ms=start_ms,
        end_ms=end_ms,
        imperfections=tuple(_placed(flaw, to_absolute, start_ms, end_ms) for flaw in plan),
        points=MappingProxyType(dict(sorted(counts.items()))),
        cache=cache,
    )


def build_cache(path: Path, spec: HistorySpec) -> list[str]:
    """Simulate the history and store it at ``path``; returns its lines. A cache that cannot be written (a
    read-only checkout) is logged and skipped: the data set is still loaded.

    :data:`BUILD_WORKERS` processes (spawned: no fork of a process with threads) each simulate a share of the
    devices; their time-ordered lines are merged, ties in worker order, so the bytes never depend on timing.
    """
    started = time.perf_counter()
    with ProcessPoolExecutor(BUILD_WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        shares = [pool.submit(history_part, spec, part, BUILD_WORKERS) for part in range(BUILD_WORKERS)]
        parts = [share.result() for share in shares]
    lines = list(heapq.merge(*parts, key=_relative_ms))  # in time order, as the loader's window needs
    manifest: dict[str, object] = {
        "key": cache_key(spec),
        "spec": repr(spec),
        "lines": len(lines),
        "build_s": round(time.perf_counter() - started, 1),
        "modules": sorted(source_files()),
    }
    try:
        write_cache(path, lines, manifest)
    except OSError as exc:
        log.warning("filled city: cannot write the cache %s (%s); it will be built again next time", path, exc)
    return lines


def _relative_ms(line: str) -> int:
    return int(line[line.rindex(" ") + 1 :])


def _bodies(
    blocks: Iterable[list[str]], window_start: int, window_end: int, to_absolute: int, counts: Counter[str]
) -> Iterator[bytes]:
    """Request bodies of at most :data:`CHUNK_LINES` points of the window, timestamps made absolute; counts
    points per measurement. Lines come in time order, so each block's part of the window is found by bisection,
    and the per-line work is one ``rpartition`` and one addition (this is most of a warm load's CPU)."""
    for lines in blocks:
        if not lines or _relative_ms(lines[-1]) < window_start:
            continue
        first = bisect.bisect_left(lines, window_start, key=_relative_ms)
        last = bisect.bisect_left(lines, window_end, key=_relative_ms)
        for start in range(first, last, CHUNK_LINES):
            chunk = lines[start : min(last, start + CHUNK_LINES)]
            body = "\n".join([f"{head} {int(ms) + to_absolute}" for head, _, ms in map(str.rpartition, chunk, _SPACES)])
            counts.update([measurement for measurement, _, _ in map(str.partition, chunk, _COMMAS)])
            yield body.encode()
        if last < len(lines):
            return


_SPACES, _COMMAS = itertools.repeat(" "), itertools.repeat(",")


async def _write(settings: InfluxSettings, bodies: Iterator[bytes]) -> None:
    limit = asyncio.Semaphore(WRITES_IN_FLIGHT)

    async def write_one(client: InfluxClient, body: bytes) -> None:
        try:
            await client.write(body, precision="ms")
        finally:
            limit.release()

    async with InfluxClient(settings) as client:
        await client.create_database()
        async with asyncio.TaskGroup() as group:
            for body in bodies:
                await limit.acquire()
                group.create_task(write_one(client, body))
                await asyncio.sleep(0)  # let the request go out before the next body is prepared


def _placed(flaw: Imperfection, to_absolute: int, start_ms: int, end_ms: int) -> Imperfection:
    """A planned imperfection in absolute time, clipped to the data set (the late device spans all of it)."""
    moved = flaw.shifted(to_absolute)
    return dataclasses.replace(moved, start_ms=max(start_ms, moved.start_ms), end_ms=min(end_ms, moved.end_ms))
