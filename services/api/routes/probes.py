"""``/healthz`` (the process answers), ``/readyz`` (InfluxDB reachable) and ``/metrics`` (Prometheus)."""

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from services.api.deps import StateDep
from services.api.problems import problem_responses


class Ready(BaseModel):
    influxdb: str
    latest_cache: str
    latest_values: int


def router() -> APIRouter:
    api = APIRouter(tags=["probes"])

    @api.get("/healthz", response_model=dict[str, str])
    async def healthz() -> JSONResponse:
        """The process is alive (it does not ask InfluxDB)."""
        return JSONResponse({"status": "ok"})

    @api.get("/readyz", response_model=Ready, responses=problem_responses(503))
    async def readyz(state: StateDep) -> JSONResponse:
        """Ready when InfluxDB answers its ping. The last-value cache's state is reported, not required: the
        catalogue answers without it."""
        refreshed = state.latest.refreshed_ms
        age = None if refreshed is None else time.time() - refreshed / 1000
        cache = (
            "empty"
            if age is None
            else "ok"
            if age < 3 * state.settings.latest_refresh_s + 5
            else f"stale ({age:.0f} s)"
        )
        if not await state.influx.ping():
            body = {
                "type": "/problems/store-unavailable",
                "title": "Service unavailable",
                "status": 503,
                "detail": f"InfluxDB at {state.settings.influx.url} does not answer /ping",
                "instance": "/readyz",
            }
            headers = {"Retry-After": str(state.settings.retry_after_s)}
            return JSONResponse(body, status_code=503, headers=headers, media_type="application/problem+json")
        return JSONResponse({"influxdb": "ok", "latest_cache": cache, "latest_values": len(state.latest)})

    @api.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    async def metrics(state: StateDep) -> Response:
        """Prometheus text format: request latency by route template, requests by status, cache age."""
        observed = state.metrics
        if state.latest.refreshed_ms is not None:
            observed.cache_age.set(time.time() - state.latest.refreshed_ms / 1000)
        observed.refresh_failures.set(state.refresher.failures)
        return Response(generate_latest(observed.registry), media_type=CONTENT_TYPE_LATEST)

    return api
