"""``/v1/stream``: latest values as Server-Sent Events (planner and above), from the last-value cache.

On connect the stream sends the current value of every device and metric it selects (``event: latest``), then one
``latest`` event whenever the cache takes a newer value (every ``SMARTCITY_API_LATEST_REFRESH_S``), and a comment
line every ``SMARTCITY_API_STREAM_KEEPALIVE_S`` so proxies keep the connection open. A client that reads more
slowly than values change gets ``event: lagged`` with ``{"dropped": d, "superseded": s}`` before the values that
follow: s waiting values were replaced by newer ones of the same device and metric, d device-metric pairs were
dropped because its buffer was full (see :mod:`services.api.stream`). A client that takes nothing for
``SMARTCITY_API_STREAM_SEND_TIMEOUT_S`` is disconnected. A disconnect removes the subscription at once.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
from fastapi import APIRouter, Query
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send

from services.api.cache import LatestValue
from services.api.deps import ApiState, Planner, StateDep
from services.api.problems import ApiProblem, problem_responses
from services.api.routes.catalogue import visible_district
from services.api.routes.readings import metric_of
from services.api.schemas import iso
from services.api.settings import ApiSettings
from services.api.stream import Lag, StreamFilter, Subscription
from smartcity.contract.metrics import METRICS

log = logging.getLogger(__name__)
EVENT_STREAM = "text/event-stream"
_SNAPSHOT_CHUNK = 200
"""Devices per chunk of the snapshot sent on connect (one write each)."""
SHUTDOWN_GRACE_S = 1.0
"""On server shutdown a stream ends its response properly (a client's EventSource then reconnects to another
replica) within this time, else it is cut."""


def _event(district: str, value: LatestValue) -> bytes:
    data = {
        "device": value.device,
        "district": district,
        "metric": value.metric,
        "value": value.value,
        "unit": METRICS[value.metric].unit,
        "time": iso(value.ts_ms),
    }
    return ServerSentEvent(json.dumps(data, separators=(",", ":")), event="latest").encode()


class _EventStream(EventSourceResponse):
    """An event stream that closes a client which stopped reading with a log line, not a traceback."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            client, timeout = scope.get("client"), self.send_timeout
            log.warning("event stream to %s closed: the client took nothing for %s s", client, timeout)


async def _next_batch(
    subscription: Subscription, closing: anyio.Event
) -> tuple[Lag, list[tuple[str, LatestValue]]] | None:
    """The next values for the client, or None when the server shuts down first."""
    taking = asyncio.ensure_future(subscription.take())
    shutting_down = asyncio.ensure_future(closing.wait())
    try:
        done, _pending = await asyncio.wait({taking, shutting_down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        taking.cancel()
        shutting_down.cancel()
    return taking.result() if taking in done else None


def _events(
    state: ApiState, wanted: StreamFilter, closing: anyio.Event, allowed: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """``allowed`` is asked before each batch: a grant revoked or expired ends the stream (a reconnect gets 403)."""
    settings = state.settings

    async def events() -> AsyncIterator[bytes]:
        # Subscribed inside the generator: its finally runs whenever it started, so no subscription outlives its
        # connection (a generator that never started holds none).
        subscription = state.stream.subscribe(wanted, settings.stream_queue)
        try:
            since = int(time.time() * 1000) - settings.latest_window_s * 1000
            devices = [
                d for d in state.index.devices.values() if wanted.districts is None or d.district_id in wanted.districts
            ]
            for start in range(0, len(devices), _SNAPSHOT_CHUNK):
                chunk = b"".join(
                    _event(d.district_id, v)
                    for d in devices[start : start + _SNAPSHOT_CHUNK]
                    for v in state.latest.values(d.id, since_ms=since, metric=wanted.metric)
                    if v.metric in METRICS
                )
                if chunk:
                    yield chunk
            while (batch := await _next_batch(subscription, closing)) is not None and allowed():
                lag, values = batch
                lagged = b""
                if lag:
                    data = json.dumps({"dropped": lag.dropped, "superseded": lag.superseded})
                    lagged = ServerSentEvent(data, event="lagged").encode()
                yield lagged + b"".join(_event(district, v) for district, v in values if v.metric in METRICS)
        finally:
            state.stream.unsubscribe(subscription)

    return events()


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["readings"], responses=problem_responses(401, 403, 404, 422, 429, 503))

    @api.get(
        "/stream",
        response_class=EventSourceResponse,
        responses={
            200: {
                "description": "an endless text/event-stream: `latest` events (JSON: device, district, metric, "
                "value, unit, time), `lagged` events (JSON: dropped, superseded) and keep-alive comments",
                "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
            }
        },
    )
    async def stream(
        state: StateDep,
        caller: Planner,
        district: Annotated[
            str | None, Query(max_length=200, description="only this district", examples=["altstadt"])
        ] = None,
        metric: Annotated[str | None, Query(max_length=200, description="only this metric", examples=["pm25"])] = None,
    ) -> EventSourceResponse:
        """Latest values as Server-Sent Events: first the current value of every selected device and metric,
        then each newer value as the last-value cache takes it. A client that falls behind gets a `lagged` event
        (JSON: dropped, superseded) saying what it lost. A key scoped to districts streams only those."""
        if district is not None:
            visible_district(state.index, caller, district)
        spec = metric_of(metric) if metric is not None else None
        if len(state.stream.subscriptions) >= settings.stream_max_clients:
            raise ApiProblem(
                503,
                "too-many-streams",
                f"{settings.stream_max_clients} event streams are open already; try again later",
                headers={"Retry-After": str(settings.retry_after_s)},
            )
        districts = frozenset({district}) if district is not None else caller.districts or None
        wanted = StreamFilter(districts, spec.name if spec else None)
        pairs = state.access.districts_pairs(districts, wanted.metric)
        state.access.require(caller.department, pairs)
        closing = anyio.Event()
        return _EventStream(
            _events(state, wanted, closing, lambda: not state.access.missing(caller.department, pairs)),
            ping=settings.stream_keepalive_s,
            send_timeout=settings.stream_send_timeout_s,
            shutdown_event=closing,
            shutdown_grace_period=SHUTDOWN_GRACE_S,
        )

    return api
