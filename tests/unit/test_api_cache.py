"""The last-value cache and its refresher, on a scripted store: first the whole window, then only the look-back;
newer values win; a failing store keeps what the cache holds."""

from __future__ import annotations

import asyncio
import contextlib

from services.api.cache import HealthSnapshot, LatestCache, LatestValue, Refresher, parse_latest
from smartcity.health import DeviceHealth
from smartcity.influx.client import Series
from smartcity.influx.errors import InfluxQueryError, InfluxUnavailable
from tests.support.api_twins import ScriptedStore

NOW = 10_000_000


def _series(device: str, metric: str, ts: int, value: float) -> Series:
    return Series(name="air_quality", tags={"device": device}, columns=["time", metric], values=[[ts, value]])


async def _no_health() -> dict[str, DeviceHealth]:
    return {}


def _refresher(store: ScriptedStore) -> Refresher:
    return Refresher(
        store,
        _no_health,
        latest=LatestCache(),
        health=HealthSnapshot(),
        refresh_s=0.01,
        window_s=3600,
        lookback_s=60,
        health_refresh_s=1.0,
        clock=lambda: NOW,
    )


def test_newer_values_win() -> None:
    cache = LatestCache()
    assert cache.merge([LatestValue("a", "pm25", 1.0, 100), LatestValue("a", "no2", 2.0, 100)]) == 2
    assert cache.merge([LatestValue("a", "pm25", 0.5, 50), LatestValue("a", "pm25", 3.0, 200)]) == 1
    assert [(v.metric, v.value) for v in cache.values("a", since_ms=0)] == [("no2", 2.0), ("pm25", 3.0)]
    assert cache.values("a", since_ms=150) == [LatestValue("a", "pm25", 3.0, 200)]
    assert cache.values("a", since_ms=0, metric="o3") == []
    assert len(cache) == 2


def test_rows_without_a_device_or_value_are_skipped() -> None:
    rows = [
        Series(name="m", tags={}, columns=["time", "pm25"], values=[[1, 1.0]]),
        Series(name="m", tags={"device": "a"}, columns=["time", "pm25"], values=[[1, None], [2, 5.0]]),
    ]
    assert parse_latest(rows) == [LatestValue("a", "pm25", 5.0, 2)]


async def test_first_refresh_reads_the_window_later_ones_the_look_back() -> None:
    store = ScriptedStore([_series("a", "pm25", NOW - 500_000, 1.0)], [_series("a", "pm25", NOW - 1000, 2.0)])
    refresher = _refresher(store)
    await refresher.refresh_latest()
    await refresher.refresh_latest()
    assert [params["since"] for _q, params in store.queries] == [(NOW - 3_600_000) * 10**6, (NOW - 60_000) * 10**6]
    assert refresher.latest.values("a", since_ms=0)[0].value == 2.0
    assert refresher.latest.refreshed_ms == NOW


async def test_a_missing_database_is_an_empty_cache_not_an_error() -> None:
    refresher = _refresher(ScriptedStore(InfluxQueryError("database not found: city")))
    assert await refresher.refresh_latest() == 0
    assert refresher.latest.refreshed_ms == NOW


async def test_an_outage_keeps_the_values_and_counts_failures() -> None:
    store = ScriptedStore([_series("a", "pm25", NOW - 1000, 4.0)], InfluxUnavailable("down"), InfluxUnavailable("down"))
    refresher = _refresher(store)
    task = asyncio.create_task(refresher.run())
    await asyncio.wait_for(store.wait_queries(3), 5)
    assert refresher.failures >= 1
    assert refresher.latest.values("a", since_ms=0)[0].value == 4.0
    await asyncio.wait_for(store.wait_queries(5), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert refresher.failures == 0
    assert refresher.health.refreshed_ms == NOW
