"""The last-value cache and device-health snapshot, kept fresh by one background task.

"Latest" is answered from memory, never by scanning history on request: the refresher reads the newest value of
every device and metric (``SELECT LAST(...) GROUP BY "device"``) over :attr:`ApiSettings.latest_window_s` once,
then every :attr:`latest_refresh_s` over the last :attr:`latest_lookback_s` only, merging what is newer. The
look-back covers readings that reach the store late (a narrowband backlog); a reading older than what the cache
holds is not the latest anyway. Device health (merged across gateway replicas, :mod:`smartcity.health`) is
re-read every :attr:`health_refresh_s`. When InfluxDB is unreachable the cache keeps what it has and says how
old it is; the API keeps answering from it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from services.api.queries import latest_query
from smartcity.health import DeviceHealth
from smartcity.influx.client import ParamValue, Series
from smartcity.influx.errors import InfluxError, InfluxQueryError

log = logging.getLogger(__name__)

Value = float | int | bool | str


class QueryStore(Protocol):
    """What the refresher needs of InfluxDB (:class:`smartcity.influx.client.InfluxClient` is one)."""

    async def query(
        self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms"
    ) -> list[Series]: ...


@dataclass(frozen=True, slots=True)
class LatestValue:
    device: str
    metric: str
    value: Value
    ts_ms: int


class LatestCache:
    """Newest value per (device, metric); :meth:`merge` keeps whichever of two values is newer."""

    def __init__(self, on_change: Callable[[list[LatestValue]], None] | None = None) -> None:
        self._by_device: dict[str, dict[str, LatestValue]] = {}
        self.refreshed_ms: int | None = None
        """Wall time of the last successful refresh; None until the first one."""
        self.version = 0
        """Counts the merges that changed a value: an answer built from the cache holds while it is the same."""
        self._on_change = on_change
        """Called with the values each merge changed (the event stream, :mod:`services.api.stream`)."""

    def merge(self, values: list[LatestValue]) -> int:
        """Take the values newer than those held; returns how many changed."""
        changed = []
        for value in values:
            held = self._by_device.setdefault(value.device, {})
            current = held.get(value.metric)
            if current is None or value.ts_ms > current.ts_ms:
                held[value.metric] = value
                changed.append(value)
        if changed:
            self.version += 1
            if self._on_change is not None:
                self._on_change(changed)
        return len(changed)

    def forget(self, device: str, metrics: Iterable[str]) -> None:
        """Drop what is held of ``metrics`` of ``device`` (its series were deleted: a decommissioned device)."""
        held = self._by_device.get(device, {})
        for metric in metrics:
            held.pop(metric, None)
        self.version += 1

    def values(self, device: str, *, since_ms: int, metric: str | None = None) -> list[LatestValue]:
        held = self._by_device.get(device, {})
        chosen = held.values() if metric is None else [held[metric]] if metric in held else []
        return sorted((v for v in chosen if v.ts_ms >= since_ms), key=lambda v: v.metric)

    def __len__(self) -> int:
        return sum(len(held) for held in self._by_device.values())


def parse_latest(series: list[Series]) -> list[LatestValue]:
    """Rows of :func:`latest_query` answers: ``columns == ["time", <metric>]``, tag ``device``."""
    found = []
    for one in series:
        device = one.tags.get("device")
        if device is None or len(one.columns) != 2:
            continue
        metric = one.columns[1]
        for ts, value in one.values:
            if isinstance(ts, int) and value is not None:
                found.append(LatestValue(device, metric, value, ts))
    return found


class HealthSnapshot:
    """Merged device health, as last read."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceHealth] = {}
        self.refreshed_ms: int | None = None


def _now_ms() -> int:
    return int(time.time() * 1000)


class Refresher:
    """Keeps a :class:`LatestCache` and a :class:`HealthSnapshot` fresh until cancelled."""

    def __init__(
        self,
        store: QueryStore,
        read_health: Callable[[], Awaitable[dict[str, DeviceHealth]]],
        *,
        latest: LatestCache,
        health: HealthSnapshot,
        refresh_s: float,
        window_s: int,
        lookback_s: int,
        health_refresh_s: float,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self._store = store
        self._read_health = read_health
        self.latest = latest
        self.health = health
        self._refresh_s = refresh_s
        self._window_ms = window_s * 1000
        self._lookback_ms = lookback_s * 1000
        self._health_refresh_ms = health_refresh_s * 1000
        self._clock = clock
        self.failures = 0
        """Refreshes that failed in a row (0 when the last one worked)."""

    async def refresh_latest(self) -> int:
        """One refresh: the whole window the first time, the look-back after. Returns values changed."""
        now = self._clock()
        back = self._window_ms if self.latest.refreshed_ms is None else self._lookback_ms
        query, params = latest_query(now - back)
        try:
            series = await self._store.query(query, params)
        except InfluxQueryError as exc:
            if "database not found" not in str(exc):
                raise
            series = []  # nothing written yet
        changed = self.latest.merge(parse_latest(series))
        self.latest.refreshed_ms = now
        return changed

    async def refresh_health(self) -> None:
        now = self._clock()
        self.health.devices = await self._read_health()
        self.health.refreshed_ms = now

    async def run(self) -> None:
        """Refresh until cancelled; a failed refresh is logged (once per outage) and retried next period."""
        while True:
            try:
                await self.refresh_latest()
                due = (
                    self.health.refreshed_ms is None
                    or self._clock() - self.health.refreshed_ms >= self._health_refresh_ms
                )
                if due:
                    await self.refresh_health()
                if self.failures:
                    log.info("InfluxDB answers again: last-value cache refreshed after %d failures", self.failures)
                self.failures = 0
            except InfluxError as exc:
                if self.failures == 0:
                    log.warning("cannot refresh the last-value cache (%s); serving what it holds", exc)
                self.failures += 1
            except Exception:  # the top of a long-lived loop: a bad stored record must not stop the refreshes
                log.exception("refreshing the last-value cache failed; serving what it holds")
                self.failures += 1
            await asyncio.sleep(self._refresh_s)
