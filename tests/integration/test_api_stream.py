"""The latest-value event stream served by uvicorn over the fixture influxd: a value written to InfluxDB arrives as
an event within a refresh or two, filters and key scopes hold, keep-alive comments flow, a disconnect ends the
subscription, and a client that stops reading costs a bounded buffer and is told what it lost."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.api.cache import LatestValue
from services.api.keys import Role
from services.api.schemas import iso
from services.api.stream import Subscription
from smartcity.contract.metrics import DEVICE_METRICS, METRICS
from smartcity.contract.reading import Reading
from smartcity.settings import InfluxSettings
from tests.support.api_server import Served, serving
from tests.support.api_support import api_city, api_settings, auth, create_key, write_readings


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(event type, data) per event, ("comment", text) per comment line."""
    kind, data = "message", list[str]()
    async for line in lines:
        if not line:
            if data:
                yield kind, "\n".join(data)
            kind, data = "message", []
        elif line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            kind = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))


async def _next_value(events: AsyncIterator[tuple[str, str]]) -> tuple[str, str]:
    """The next event that is not a comment."""
    async for kind, data in events:
        if kind != "comment":
            return kind, data
    raise AssertionError("the stream ended")


async def _filled(served: Served) -> None:
    async with asyncio.timeout(10):
        while served.state.latest.refreshed_ms is None:  # noqa: ASYNC110  # the cache has no event for it
            await asyncio.sleep(0.02)


async def _only_subscription(served: Served) -> Subscription:
    async with asyncio.timeout(10):
        while len(served.state.stream.subscriptions) != 1:  # noqa: ASYNC110  # the hub has no event for it
            await asyncio.sleep(0.02)
    return next(iter(served.state.stream.subscriptions))


async def _no_subscriptions(served: Served) -> None:
    async with asyncio.timeout(5):
        while served.state.stream.subscriptions:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _latest(device: str, district: str, metric: str, value: Any, ts_ms: int) -> dict[str, Any]:
    unit = METRICS[metric].unit
    return {"device": device, "district": district, "metric": metric, "value": value, "unit": unit, "time": iso(ts_ms)}


async def test_a_value_written_to_influxdb_arrives_as_an_event(tmp_path: Path, influx_settings: InfluxSettings) -> None:
    now = int(time.time() * 1000)
    write_readings(influx_settings, [Reading("aq-n1", 0, now - 60_000, {"pm25": 12.5})])
    settings = api_settings(tmp_path, influx_settings, stream_keepalive_s=0.5)  # the cache refreshes every 0.2 s
    key = create_key(settings, Role.PLANNER)
    async with serving(settings) as served, httpx.AsyncClient(base_url=served.base_url, headers=auth(key)) as client:
        await _filled(served)
        params = {"district": "north", "metric": "pm25"}
        async with client.stream("GET", "/v1/stream", params=params) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response.aiter_lines())
            kind, data = await anext(events)  # what the cache holds at connect
            assert (kind, json.loads(data)) == ("latest", _latest("aq-n1", "north", "pm25", 12.5, now - 60_000))
            written = time.monotonic()
            newer = [Reading("aq-s1", 0, now, {"pm25": 99.0}), Reading("aq-n1", 1, now, {"pm25": 33.3, "no2": 20.0})]
            await asyncio.to_thread(write_readings, influx_settings, newer)
            async with asyncio.timeout(5):
                kind, data = await _next_value(events)
            arrived_s = time.monotonic() - written
            assert (kind, json.loads(data)) == ("latest", _latest("aq-n1", "north", "pm25", 33.3, now))
            assert arrived_s < 2.0  # one refresh (0.2 s) plus the write; the south and no2 values never come
            async with asyncio.timeout(2):
                assert (await anext(events))[0] == "comment"  # keep-alive
        await _no_subscriptions(served)  # the disconnect ended it


async def test_who_may_stream_what(tmp_path: Path, influx_settings: InfluxSettings) -> None:
    now = int(time.time() * 1000)
    write_readings(influx_settings, [Reading("aq-n1", 0, now, {"pm25": 1.0}), Reading("aq-s1", 0, now, {"pm25": 2.0})])
    settings = api_settings(tmp_path, influx_settings, stream_max_clients=1, retry_after_s=4)
    planner, south = create_key(settings, Role.PLANNER), create_key(settings, Role.PLANNER, ("south",))
    async with serving(settings) as served, httpx.AsyncClient(base_url=served.base_url) as client:
        await _filled(served)
        refusals = [
            ({}, {}, 401, "unauthorized"),
            (auth(planner), {"metric": "nope"}, 422, "invalid-parameters"),
            (auth(planner), {"districts": "north"}, 422, "invalid-parameters"),
            (auth(planner), {"district": "nope"}, 404, "unknown-id"),
            (auth(south), {"district": "north"}, 404, "unknown-id"),
        ]
        for headers, params, status, kind in refusals:
            answer = await client.get("/v1/stream", headers=headers, params=params)
            assert (answer.status_code, answer.json()["type"]) == (status, f"/problems/{kind}"), params
        async with client.stream("GET", "/v1/stream", headers=auth(south)) as response:
            events = _events(response.aiter_lines())
            kind, data = await anext(events)
            assert (kind, json.loads(data)) == ("latest", _latest("aq-s1", "south", "pm25", 2.0, now))
            busy = await client.get("/v1/stream", headers=auth(planner))
            assert (busy.status_code, busy.headers["retry-after"]) == (503, "4")
            assert busy.json()["type"] == "/problems/too-many-streams"
        await _no_subscriptions(served)


_EVENT = re.compile(rb"event: (latest|lagged)\r\ndata: ([^\r]*)\r\n")


class Tally:
    """Counts the events of a raw stream as its bytes arrive (chunked framing included: each chunk holds whole
    events, so the chunk-size lines fall between them)."""

    def __init__(self) -> None:
        self.latest = self.lagged = self.dropped = self.superseded = 0
        self._rest = b""

    def feed(self, raw: bytes) -> None:
        complete, separator, self._rest = (self._rest + raw).rpartition(b"\r\n\r\n")
        for kind, data in _EVENT.findall(complete + separator):
            if kind == b"latest":
                self.latest += 1
            else:
                lag = json.loads(data)
                self.lagged += 1
                self.dropped += lag["dropped"]
                self.superseded += lag["superseded"]


async def test_a_client_that_stops_reading_costs_a_bounded_buffer_and_is_told_what_it_lost(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    settings = api_settings(tmp_path, influx_settings, stream_queue=10, stream_keepalive_s=60)
    key = create_key(settings, Role.PLANNER)
    pairs = [(device.id, metric) for device in api_city().devices for metric in DEVICE_METRICS[device.type]]
    assert len(pairs) > 2 * settings.stream_queue
    async with serving(settings) as served:
        await _filled(served)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's writes stall soon
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", served.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        writer.write(f"GET /v1/stream HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer {key}\r\n\r\n".encode())
        await writer.drain()
        subscription = await _only_subscription(served)
        # Eight changed pairs per "refresh", within the buffer (a reader that keeps up loses nothing): four that
        # change every time (coalesced while they wait) and four rotating over the others (dropped once the
        # buffer is full), until the stalled writes made the buffer do both.
        hot, others = pairs[:4], pairs[4:]
        pushed = rounds = stalled = 0
        while stalled < 100:  # rounds after the buffer first dropped and coalesced
            assert rounds < 20_000, "the server never stalled on the unread socket"
            stalled += bool(subscription.dropped_total and subscription.superseded_total)
            batch = hot + [others[(rounds * 4 + i) % len(others)] for i in range(4)]
            rounds += 1
            # long values fill the socket buffers in fewer rounds
            served.state.latest.merge([LatestValue(d, m, f"{rounds:08d}" * 250, rounds) for d, m in batch])
            pushed += len(batch)
            await asyncio.sleep(0.001)
        assert subscription.high_water <= settings.stream_queue
        assert subscription.offered_total == pushed
        tally = Tally()
        async with asyncio.timeout(15):
            while tally.latest + tally.dropped + tally.superseded < pushed:
                tally.feed(await reader.read(65536))
        assert tally.latest + tally.dropped + tally.superseded == pushed  # every value sent or accounted for
        assert tally.lagged >= 1
        assert (tally.dropped, tally.superseded) == (subscription.dropped_total, subscription.superseded_total)
        writer.close()
        await writer.wait_closed()
        await _no_subscriptions(served)


async def test_a_server_shutdown_ends_open_streams_properly(
    tmp_path: Path, influx_settings: InfluxSettings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = api_settings(tmp_path, influx_settings)
    key = create_key(settings, Role.PLANNER)
    async with httpx.AsyncClient(headers=auth(key)) as client:
        async with serving(settings) as served:
            await _filled(served)
            async with client.stream("GET", f"{served.base_url}/v1/stream") as response:
                await _only_subscription(served)
                started = time.monotonic()
                served.stop()
                body = b"".join([chunk async for chunk in response.aiter_raw()])  # ends: no incomplete read
        assert time.monotonic() - started < 3
        assert body == b""  # the city's cache is empty: nothing was streamed, and nothing is cut off
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
