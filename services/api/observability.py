"""Prometheus metrics of the API: request latency by route template, requests by status, cache age.

A plain ASGI middleware (no per-request task or body copying): it reads the route template FastAPI matched
(``/v1/devices/{device_id}``, never the raw path, so the label set stays bounded) after the app answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "smartcity_api_request_seconds",
            "Time to answer a request, by route template",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "smartcity_api_requests",
            "Requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.cache_age = Gauge(
            "smartcity_api_latest_cache_age_seconds",
            "Seconds since the last-value cache was refreshed",
            registry=self.registry,
        )
        self.refresh_failures = Gauge(
            "smartcity_api_refresh_failures", "Cache refreshes that failed in a row", registry=self.registry
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route).observe(seconds)
        self.requests.labels(method, route, str(status)).inc()


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics, clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.metrics = metrics
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self._clock()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, self._clock() - started)
