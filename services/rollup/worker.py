"""The worker's cycle: which windows to compute now, in which order, and what it records.

Each cycle:

1. reads the late-data marks written since its cursor (``late_windows``, up to ``now - LATE_MARGIN_S``) and
   recomputes the completed hours they name, and the hour after each (a meter's first difference in it depends
   on the last reading before it);
2. computes the closed hours after the last one completed, oldest first: an hour is closed ``settle_s`` after
   it ended. At most ``max_windows_per_cycle`` hours per cycle (late ones first), so a worker that was down for a
   day catches up in bounded steps, logging its progress, and the next cycle starts at once while a backlog
   remains;
3. combines every local day that the completed hours closed, and the completed days holding recomputed hours;
4. records progress in ``rollup_progress`` after the windows' points are durable. A window interrupted by a crash
   or SIGKILL is simply computed again: the same points land on the same timestamps and tags.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.rollup.compute import Store, TierWriter, compute_day, compute_hour
from services.rollup.metrics import RollupMetrics
from services.rollup.windows import LocalDays, hour_of
from smartcity.influx.client import InfluxClient
from smartcity.latewindows import LATE_MARGIN_S, read_late_windows
from smartcity.rollups import (
    DAY,
    DAY_MS,
    HOUR,
    HOUR_MS,
    LATE_CURSOR,
    MINUTE,
    REWRITTEN,
    progress_line,
    read_progress,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    settle_s: int
    max_windows_per_cycle: int
    start_lookback_h: int
    raw_days: int
    register_lookback_s: int


@dataclass(slots=True)
class Progress:
    hours_done: int
    """End of the last completed hour (ms): every hour before it is rolled up."""
    days_done: int
    """End of the last completed local day (ms)."""
    late_cursor: int
    """Late marks up to this time were handled."""


class RollupWorker:
    """Computes windows against ``influx`` (reads and progress) and ``tiers`` (roll-up writes)."""

    def __init__(
        self,
        influx: InfluxClient,
        tiers: TierWriter,
        days: LocalDays,
        config: WorkerConfig,
        metrics: RollupMetrics,
        *,
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
    ) -> None:
        self._influx = influx
        self.influx = influx
        self._store: Store = store if store is not None else influx
        self._tiers = tiers
        self._days = days
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self.progress: Progress | None = None
        self.backlog = 0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def load_progress(self) -> Progress:
        """Where the last run stopped; a first run starts at the local day holding ``now - start_lookback_h``
        (never before raw retention)."""
        now = self._now_ms()
        hours = await read_progress(self._influx, HOUR.name.value)
        days = await read_progress(self._influx, DAY.name.value)
        cursor = await read_progress(self._influx, LATE_CURSOR)
        if hours is None:
            back = min(self._config.start_lookback_h * HOUR_MS, self._config.raw_days * DAY_MS - DAY_MS)
            hours = hour_of(self._days.start_of(now - back))
            if hours < now - self._config.raw_days * DAY_MS:
                hours += HOUR_MS
        if days is None:
            days = self._days.start_of(hours)
        progress = Progress(hours, days, cursor if cursor is not None else now - LATE_MARGIN_S * 1000)
        self.progress = progress
        log.info("roll-ups complete up to %s (days to %s)", _iso(hours), _iso(days))
        return progress

    async def cycle(self, *, stopping: Callable[[], bool] = lambda: False) -> int:
        """One cycle (module docstring); returns the hour windows computed. Raises on InfluxDB errors: the
        caller retries the cycle, which starts from the recorded progress. ``stopping`` is asked between hours:
        at shutdown the hour in progress is finished and recorded, the rest waits for the next start."""
        progress = self.progress or await self.load_progress()
        now = self._now_ms()
        budget = self._config.max_windows_per_cycle
        until = now - LATE_MARGIN_S * 1000
        marked, _newest = await read_late_windows(self._influx, since_ms=progress.late_cursor, until_ms=until)
        late = sorted({h for hour in marked for h in (hour, hour + HOUR_MS) if h + HOUR_MS <= progress.hours_done})
        redo_days: set[tuple[int, int]] = set()
        for hour in late[:budget]:
            await self._hour(hour)
            self._metrics.late_windows.inc()
            day = self._days.day_of(hour)
            if day[1] <= progress.days_done:
                redo_days.add(day)
        if len(late) > budget:
            log.warning("%d late hour windows left for the next cycle", len(late) - budget)
        else:
            await self._influx.write(progress_line(LATE_CURSOR, until).encode())
            progress.late_cursor = until
        budget -= min(budget, len(late))
        closed = hour_of(now - self._config.settle_s * 1000)
        computed = 0
        while progress.hours_done + HOUR_MS <= closed and computed < budget and not stopping():
            await self._hour(progress.hours_done)
            progress.hours_done += HOUR_MS
            computed += 1
            await self._influx.write(
                "\n".join(progress_line(t.name.value, progress.hours_done) for t in (MINUTE, HOUR)).encode()
            )
        for day in sorted(redo_days):
            await self._day(*day)
        if late:  # after every redo is durable: answers kept from before it are stale (services.api.answers)
            await self._influx.write(progress_line(REWRITTEN, self._now_ms()).encode())
        for day in self._days.days_between(progress.days_done, progress.hours_done):
            await self._day(*day)
            progress.days_done = day[1]
            await self._influx.write(progress_line(DAY.name.value, day[1]).encode())
        self.backlog = max(0, (closed - progress.hours_done) // HOUR_MS)
        self._metrics.backlog.set(self.backlog)
        self._metrics.lag.set(max(0.0, (now - progress.hours_done) / 1000))
        if computed and self.backlog:
            log.info("catching up: complete up to %s, %d closed hours to go", _iso(progress.hours_done), self.backlog)
        return computed + min(len(late), self._config.max_windows_per_cycle)

    async def _hour(self, hour: int) -> None:
        started = time.monotonic()
        result = await compute_hour(
            self._store, self._tiers, hour, register_lookback_ms=self._config.register_lookback_s * 1000
        )
        elapsed = time.monotonic() - started
        self._metrics.hour_seconds.observe(elapsed)
        self._metrics.windows.labels("1h").inc()
        self._metrics.windows.labels("1m").inc(60)
        self._metrics.points.labels("1m").inc(result.minute_points)
        self._metrics.points.labels("1h").inc(result.hour_points)
        log.debug(
            "hour %s: %d minute and %d hour points in %.3f s",
            _iso(hour),
            result.minute_points,
            result.hour_points,
            elapsed,
        )

    async def _day(self, start: int, end: int) -> None:
        written = await compute_day(self._store, self._tiers, self._influx.settings.database, start, end)
        self._metrics.windows.labels("1d").inc()
        self._metrics.points.labels("1d").inc(written)
        log.info("day %s rolled up: %d points", _iso(start), written)


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
