"""The quality worker's cycle: which data it judges, with which detector, and what it writes.

Each cycle:

1. **hour passes**, oldest first, for every hour the roll-up worker has completed (``rollup_progress`` of the
   1h tier) after the quality progress, at most ``max_hours_per_cycle``:

   - the hour's 1-minute roll-ups (``rp_1m``; a device reporting at most once a minute has one reading per
     minute): offline spans from the minutes with readings, spikes from the minute means against each device's
     recent history (kept in memory, read again after a restart), spikes many peers share dropped;
   - the hourly roll-ups (``rp_1h``) of the ``lookback_h`` hours up to the hour's end: stuck runs, drift
     against the district's peers, battery trends of narrowband devices, report intervals;
   - the flags this changes are written, then the progress (``quality_progress``).

2. **the live pass**: the gateways' merged ``device_health``: wills and silence up to now (offline), clock
   skew, and sequence gaps and duplicates that grew since the last cycle.

A flag's timestamp is the condition's start as the data shows it (:mod:`smartcity.quality_flags`), so a pass
computed again after a crash rewrites the same points, and the open flags are read back at start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from services.quality.book import FlagBook, Scope
from services.quality.device_checks import (
    Cadence,
    CadenceState,
    cadence_skew,
    lost_runs,
    merged,
    offline,
)
from services.quality.findings import Finding, HourStat
from services.quality.hour_checks import VITALS, drift_references, judge_hours
from services.quality.limits import CHECKED_METRICS, limits_of
from services.quality.live import LiveRules, judge_live
from services.quality.metrics import QualityMetrics
from services.quality.peer_checks import Reference
from services.quality.reads import StatKey, read_sequences, read_stats
from services.quality.rules import WorkerConfig
from services.quality.value_checks import drop_common_mode, spikes
from smartcity.city.directory import DeviceInfo
from smartcity.city.model import City, Device, NetworkClass
from smartcity.contract.metrics import DEVICE_METRICS, METRICS
from smartcity.health import DeviceHealth, read_device_health
from smartcity.influx.client import InfluxClient
from smartcity.quality_flags import Flag, FlagKind, flag_point, progress_point, read_flags, read_quality_progress
from smartcity.rollups import HOUR, HOUR_MS, MINUTE, read_progress

log = logging.getLogger(__name__)
PEERLESS_NAMED = 10
"""Series named in the log line about series without drift peers."""


class QualityWorker:
    """Judges ``city``'s devices against ``influx`` (reads, flags, progress)."""

    def __init__(
        self,
        influx: InfluxClient,
        city: City,
        config: WorkerConfig,
        metrics: QualityMetrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.influx = influx
        self._city = city
        kinds = {f.id: f.kind for f in city.facilities}
        self._devices: dict[str, Device] = {d.id: d for d in city.devices}
        self._infos = {
            d.id: DeviceInfo(d.id, d.type, d.district_id, d.facility_id, kinds[d.facility_id], d.network)
            for d in city.devices
        }
        self._config = config
        self._rules = config.rules
        self._metrics = metrics
        self._clock = clock
        self.book: FlagBook | None = None
        self.progress: int | None = None
        self.backlog = 0
        self._history: dict[StatKey, list[tuple[int, float]]] = {}
        self._last_minute: dict[str, int] = {}
        self._intervals: dict[str, list[tuple[int, float]]] = {}
        self._health: dict[str, DeviceHealth] = {}
        self._cadences: dict[str, CadenceState] = {}
        self._last_seq: dict[str, tuple[int, int]] = {}
        self._spikes_judged: dict[StatKey, int] = {}
        self._drift_refs: dict[StatKey, Reference] = {}
        self._peerless: list[StatKey] = []
        self._primary = {d.id: METRICS[DEVICE_METRICS[d.type][0]].measurement for d in city.devices}

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def load(self) -> None:
        """Open flags and recent closed ones, and the progress; a first run starts ``start_lookback_h`` back."""
        now = self._now_ms()
        memory = now - self._config.flag_memory_days * 86_400_000
        self.book = FlagBook(await read_flags(self.influx, since_ms=memory))
        progress = await read_quality_progress(self.influx)
        self.progress = progress if progress is not None else (now // HOUR_MS - self._config.start_lookback_h) * HOUR_MS
        self._history.clear()
        self._last_minute.clear()
        self._cadences.clear()
        self._last_seq.clear()
        self._spikes_judged.clear()
        self._drift_refs = drift_references(self.book, self.progress - self._config.lookback_h * HOUR_MS)
        log.info("quality judged up to %s; %d open flags", _iso(self.progress), len(self.book.open))

    async def cycle(self, *, stopping: Callable[[], bool] = lambda: False) -> int:
        """One cycle (module docstring); returns the hours judged. InfluxDB errors propagate: the caller retries
        from the recorded progress."""
        if self.book is None or self.progress is None:
            await self.load()
        assert self.progress is not None
        rolled = await read_progress(self.influx, HOUR.name.value) or 0
        hours = 0
        while self.progress + HOUR_MS <= rolled and hours < self._config.max_hours_per_cycle and not stopping():
            await self.hour_pass(self.progress)
            self.progress += HOUR_MS
            await self.influx.write(progress_point(self.progress).encode())
            hours += 1
        self.backlog = max(0, (rolled - self.progress) // HOUR_MS)
        await self.live_pass()
        self._update_gauges()
        return hours

    # -- the hour pass ------------------------------------------------------------------------------------------------
    async def hour_pass(self, hour: int) -> None:
        end = hour + HOUR_MS
        db = self.influx.settings.database
        since = hour if self._history or self._last_minute else hour - self._config.warmup_h * HOUR_MS
        minutes = await read_stats(self.influx, db, MINUTE, CHECKED_METRICS, since, end)
        hourly = await read_stats(
            self.influx, db, HOUR, (*CHECKED_METRICS, *VITALS), end - self._config.lookback_h * HOUR_MS, end
        )
        for (device, metric), stats in hourly.items():
            if metric == "report_interval":
                self._intervals[device] = [(s.hour_ms, s.high) for s in stats]
        sequences = await read_sequences(self.influx, set(self._primary.values()), since, end)
        written: list[Flag] = []
        written += self._minute_checks(minutes, sequences, hour, end)
        written += self._hour_checks(hourly, end)
        written += self._cadence_checks(sequences, end)
        await self._write(written)
        assert self.book is not None
        self.book.forget_before(end - (self._config.lookback_h + self._config.warmup_h) * HOUR_MS)
        self._metrics.hours.inc()

    def _lost_runs(self, sequences: dict[str, list[tuple[int, int]]]) -> dict[str, list[Finding]]:
        """Offline spans from skipped sequence numbers, across hour passes (the last reading is kept)."""
        found: dict[str, list[Finding]] = {}
        for device_id, points in sequences.items():
            device = self._devices.get(device_id)
            if device is None or not points:
                continue
            last = self._last_seq.get(device_id)
            series = [last, *(p for p in points if p[0] > last[0])] if last is not None else points
            found[device_id] = lost_runs(
                series,
                cadence=self._cadence(device),
                rules=self._rules.silence,
                interval_changes=self._intervals.get(device_id, ()),
            )
            self._last_seq[device_id] = max(series[-1], points[-1])
        return found

    def _minute_checks(
        self, minutes: dict[StatKey, list[HourStat]], sequences: dict[str, list[tuple[int, int]]], hour: int, end: int
    ) -> list[Flag]:
        assert self.book is not None
        lost = self._lost_runs(sequences)
        times: dict[str, set[int]] = {device: {ts for ts, _ in points} for device, points in sequences.items()}
        spikes_by_type: dict[str, dict[str, list[Finding]]] = {}
        reporting: dict[str, set[str]] = {}
        for (device_id, metric), stats in minutes.items():
            if device_id not in self._devices:
                continue
            times.setdefault(device_id, set()).update(s.hour_ms for s in stats)
            points = [*self._history.get((device_id, metric), []), *((s.hour_ms, s.mean) for s in stats)]
            found = spikes(points, metric, limits_of(metric), self._rules.spike)
            judged = self._spikes_judged.get((device_id, metric), hour - 1)
            self._spikes_judged[(device_id, metric)] = points[-2][0] if len(points) > 1 else judged
            kind = self._devices[device_id].type.value
            fresh = [f for f in found if f.start_ms > judged]  # the newest reading waits for its successor
            spikes_by_type.setdefault(kind, {}).setdefault(device_id, []).extend(fresh)
            reporting.setdefault(kind, set()).add(device_id)
            keep = self._rules.spike.window + 2
            self._history[(device_id, metric)] = sorted(dict(points).items())[-keep:]
        kept: dict[str, list[Finding]] = {}
        for kind, by_device in spikes_by_type.items():
            kept.update(drop_common_mode(by_device, len(reporting[kind]), self._rules.common))
        written: list[Flag] = []
        for device_id, device in self._devices.items():
            seen = sorted(times.get(device_id, ()))
            previous = self._last_minute.get(device_id)
            series = [previous, *seen] if previous is not None and (not seen or previous < seen[0]) else seen
            found = offline(
                [t for t in series if t is not None],
                now_ms=end,
                cadence=self._cadence(device),
                rules=self._rules.silence,
                interval_changes=self._intervals.get(device_id, ()),
            )
            found = [f for f in merged([*found, *lost.get(device_id, ())]) if f.end_ms is None or f.end_ms > hour]
            scope: Scope = {(FlagKind.OFFLINE, "")} if seen else set()
            close_at = seen[0] if seen else end
            written += self.book.observe(device_id, found, scope, close_at=close_at, detected_ms=end)
            spiked = kept.get(device_id, [])
            if spiked:
                written += self.book.observe(device_id, spiked, set(), close_at=end, detected_ms=end)
            if seen:
                self._last_minute[device_id] = seen[-1]
        return written

    def _hour_checks(self, hourly: dict[StatKey, list[HourStat]], end: int) -> list[Flag]:
        assert self.book is not None
        findings, scopes, peerless = judge_hours(hourly, self._infos, self._rules, self._drift_refs)
        self._report_peerless(peerless)
        written: list[Flag] = []
        for device_id, scope in scopes.items():
            written += self.book.observe(device_id, findings.get(device_id, []), scope, close_at=end, detected_ms=end)
        return written

    def _report_peerless(self, peerless: list[StatKey]) -> None:
        """The gauge, and a log line when the series without drift peers change (a device joined or left)."""
        self._metrics.peerless.set(len(peerless))
        if peerless == self._peerless:
            return
        self._peerless = peerless
        if peerless:
            named = ", ".join(f"{device} {metric}" for device, metric in peerless[:PEERLESS_NAMED])
            more = f" and {len(peerless) - PEERLESS_NAMED} more" if len(peerless) > PEERLESS_NAMED else ""
            log.info("drift not judged for %d series without peers of their kind: %s%s", len(peerless), named, more)

    def _cadence_checks(self, sequences: dict[str, list[tuple[int, int]]], end: int) -> list[Flag]:
        assert self.book is not None
        written: list[Flag] = []
        for device_id, points in sequences.items():
            if device_id not in self._devices:
                continue
            state = self._cadences.setdefault(device_id, CadenceState())
            found = cadence_skew(points, state, self._rules.cadence)
            scope: Scope = {(FlagKind.SKEW, "timestamps")}
            written += self.book.observe(device_id, found, scope, close_at=points[0][0], detected_ms=end)
        return written

    # -- the live pass ------------------------------------------------------------------------------------------------
    async def live_pass(self) -> None:
        assert self.book is not None
        now = self._now_ms()
        health = await read_device_health(self.influx, since_ms=now - 7 * 86_400_000)
        written: list[Flag] = []
        rules = LiveRules(self._rules.silence, self._rules.delivery, self._rules.skew)
        for device_id, current in health.items():
            device = self._devices.get(device_id)
            if device is None:
                continue
            verdict = judge_live(
                current,
                self._health.get(device_id),
                cadence=self._cadence(device),
                last_reading_ms=self._last_minute.get(device_id, 0),
                interval_changes=self._intervals.get(device_id, ()),
                now_ms=now,
                rules=rules,
            )
            self._health[device_id] = current
            written += self.book.observe(
                device_id, verdict.findings, verdict.scope, close_at=verdict.close_at, detected_ms=now
            )
        await self._write(written)

    # -- helpers ------------------------------------------------------------------------------------------------------
    def _cadence(self, device: Device) -> Cadence:
        return Cadence(device.report_interval_s * 1000, device.network is NetworkClass.NARROWBAND)

    async def _write(self, flags: list[Flag]) -> None:
        lines = [flag_point(self._infos[flag.device], flag) for flag in flags if flag.device in self._infos]
        if not lines:
            return
        await self.influx.write("\n".join(lines).encode())
        for flag in flags:
            self._metrics.written.labels(flag.kind.value, "open" if flag.open else "closed").inc()
            log.info(
                "%s %s %s%s: %s",
                "flag" if flag.open else "cleared",
                flag.device,
                flag.kind.value,
                f" ({flag.metric})" if flag.metric else "",
                flag.reason,
            )

    def _update_gauges(self) -> None:
        assert self.book is not None
        assert self.progress is not None
        for kind, count in self.book.counts().items():
            self._metrics.open_flags.labels(kind.value).set(count)
        self._metrics.backlog.set(self.backlog)
        self._metrics.lag.set(max(0.0, (self._now_ms() - self.progress) / 1000))


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
