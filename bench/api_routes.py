"""What the API benchmark asks, with its targets, and the InfluxDB requests each URL makes the API send.

:func:`record` points a ``smartcity api`` at a recording forwarder (:mod:`bench.api_proxy`), asks every URL once
and keeps the ``/query`` requests that URL caused. ``/v1/latest`` causes none (the last-value cache answers): its
direct baseline is the cache's own statement (one ``SELECT LAST`` per metric, :func:`services.api.queries.latest_query`)
restricted to the district, which is what answering from the store would cost.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.api_dataset import DataSet
from bench.api_process import LATEST_WINDOW_S, ApiProcess, api_env
from bench.api_proxy import InfluxRequest, RecordingProxy
from services.api.queries import latest_query
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricKind
from smartcity.rollups import DAY_MS
from tests.support.city_signals import VITALS

HISTORY_DEVICES = 16
_NUMERIC = (MetricKind.FLOAT, MetricKind.INT)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    what: str
    target_ms: float
    """The p99 target under the benchmark's load."""
    urls: list[str]
    """Asked in turn."""
    requests: int
    """Timed requests against the API."""
    direct_requests: int
    """Timed requests of its InfluxQL straight to influxd."""


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def routes(data: DataSet, indicators: list[str], *, requests: int, latest_requests: int) -> list[Route]:
    """Latest values of each district in turn; each indicator over the 30 days before the anchor for all districts;
    the 7-day 1-minute history of 16 devices of the minute district that report every minute (across types)."""
    layout, city = data.layout, data.city
    districts = sorted(d.id for d in city.districts)
    month = f"start={iso(layout.anchor_ms - 30 * DAY_MS)}&end={iso(layout.anchor_ms)}"
    week = f"start={iso(layout.anchor_ms - 7 * DAY_MS)}&end={iso(layout.anchor_ms)}"
    found = []
    for device in sorted(city.devices, key=lambda d: (d.type.value, d.id)):
        if device.district_id != layout.minute_district or device.report_interval_s != 60:
            continue
        metric = next((n for n in DEVICE_METRICS[device.type] if METRICS[n].kind in _NUMERIC and n not in VITALS), None)
        if metric is not None:
            found.append(f"/v1/history?device={device.id}&metric={metric}&resolution=1m&agg=mean&{week}")
    history = found[:: max(1, len(found) // HISTORY_DEVICES)][:HISTORY_DEVICES]
    latest = [f"/v1/latest?district={d}" for d in districts]
    return [
        # the latest baseline costs influxd a third of a second of CPU each: a few per client say enough
        Route("latest", f"latest, one district ({len(districts)} in turn)", 50.0, latest, latest_requests, 96),
        *(
            Route(
                f"indicator {name}",
                f"{name}, 30 days, all districts",
                200.0,
                [f"/v1/indicators/{name}?{month}"],
                requests,
                requests,
            )
            for name in indicators
        ),
        Route(
            "history", f"history 1m, 7 days, one device ({len(history)} in turn)", 100.0, history, requests, requests
        ),
    ]


def latest_baseline(url: str, database: str) -> list[InfluxRequest]:
    """The last-value cache's statement restricted to the URL's district, over the API's latest window."""
    district = url.rsplit("=", 1)[1]
    query, params = latest_query(int(time.time() * 1000) - LATEST_WINDOW_S * 1000)
    query = query.replace("WHERE time >= $since", 'WHERE "district" = $district AND time >= $since')
    fields = {"q": query, "db": database, "epoch": "ms", "params": json.dumps(params | {"district": district})}
    return [InfluxRequest("POST", fields)]


async def record(
    data: DataSet, state_file: Path, key: str, rs: list[Route], workdir: Path, tree: Path | None = None
) -> tuple[dict[str, list[InfluxRequest]], dict[str, str]]:
    """URL -> the InfluxDB requests it made the API send, and route -> why it failed (a URL that did not answer
    200); prints what each route's first URL answered."""
    recorded: dict[str, list[InfluxRequest]] = {}
    failed: dict[str, str] = {}
    async with RecordingProxy(data.influx.url) as proxy:
        quiet = {"latest_refresh_s": "3600", "health_refresh_s": "3600"}  # no background queries while recording
        env = api_env(data.city_file, proxy.url, data.influx.database, state_file, tree=tree, **quiet)
        api = ApiProcess(workdir / "recording", env, key, rs[0].urls[0])
        await asyncio.to_thread(api.start)
        try:
            proxy.take()  # the cache's first fill
            async with httpx.AsyncClient(base_url=api.url, trust_env=False, timeout=300.0) as client:
                for route in rs:
                    for url in route.urls:
                        answer = await client.get(url, headers={"Authorization": f"Bearer {key}"})
                        recorded[url] = proxy.take()
                        if answer.status_code != 200:
                            if route.name not in failed:
                                failed[route.name] = f"GET {url}: {answer.status_code} {answer.text[:300]}"
                                print(f"  {route.what}: FAILED, {failed[route.name]}")
                        elif url == route.urls[0]:
                            size = f"{len(answer.content):,} bytes"
                            print(f"  {route.what}: {_summary(answer.json())}, {size}; {_sent(recorded[url])}")
        finally:
            await asyncio.to_thread(api.stop)
    for url in rs[0].urls:
        recorded[url] = recorded[url] or latest_baseline(url, data.influx.database)
    return recorded, failed


def _summary(body: dict[str, object]) -> str:
    for key, what in (("items", "values"), ("points", "points")):
        found = body.get(key)
        if isinstance(found, list):
            return f"{len(found):,} {what}"
    groups = body.get("groups")
    if isinstance(groups, list):
        return f"{len(groups)} groups (" + ", ".join(f"{g['group']}: {g['value']}" for g in groups) + ")"
    return "?"


def _sent(requests: list[InfluxRequest]) -> str:
    if not requests:
        return "no InfluxDB request (the last-value cache answers)"
    statements = sum(len(r.fields.get("q", "").split("; ")) for r in requests)
    return f"{len(requests)} InfluxDB requests, {statements} statements"
