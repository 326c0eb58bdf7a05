"""``create_app(settings)``: the planning API as one FastAPI application.

The city file is read when the app is built (a bad file fails before the server starts). The lifespan owns, in
one ``async with``, the InfluxDB client and the state store (API keys, command log, grants, audit trail), and in
one TaskGroup the refresher of the last-value cache (which feeds the event streams), the command expiry sweep, the
audit writer and, with ``commands`` on, the broker link (commands out, acks in). Shutdown: stop the tasks (the audit
writer writes what is queued), close the state store, close the InfluxDB client.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Scope

from services.api.access import DepartmentAccess
from services.api.answers import AnswerCache, RollupWatch, answer_bytes, series_bytes
from services.api.audit import AuditMiddleware, AuditTrail
from services.api.broker import BrokerLink
from services.api.cache import HealthSnapshot, LatestCache, Refresher
from services.api.catalogue import CityIndex
from services.api.citywatch import reload_city
from services.api.commandlog import CommandLog, SqlCommandLog
from services.api.commands import CommandDesk
from services.api.deps import ApiState, KeyRing, reject_unknown_query
from services.api.examples import EXAMPLES
from services.api.grants import GrantStore
from services.api.keys import KeyRecord
from services.api.observability import ApiMetrics, MetricsMiddleware
from services.api.problems import PROBLEM_JSON, install_problem_handlers
from services.api.ratelimit import PublicLimiter, RateLimiter, SharedRateLimiter
from services.api.routes import (
    audit,
    catalogue,
    commands,
    decommission,
    devices,
    grants,
    health,
    indicators,
    keys,
    probes,
    quality,
    readings,
    stream,
)
from services.api.settings import ApiSettings
from services.api.state import KeyStore, StateStore
from services.api.stream import StreamHub
from services.citypage import routes as city_page
from services.opendata import routes as open_data
from services.opendata.exports import routes as open_exports
from smartcity.city.load import load_city
from smartcity.city.watch import follow_city
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.health import read_device_health
from smartcity.influx.client import InfluxClient

log = logging.getLogger(__name__)

DESCRIPTION = """The city's catalogue (districts, facilities, devices, metrics) and its readings (latest values,
history) for planners, operators and integrators. Errors are RFC 9457 problem details
(`application/problem+json`). Send an API key as `Authorization: Bearer sck_...`; without one you are the public
role (catalogue only, rate-limited). See docs/API.md."""


def create_app(
    settings: ApiSettings, *, key_store: KeyStore | None = None, command_log: CommandLog | None = None
) -> FastAPI:
    """The application for ``settings``; ``key_store`` and ``command_log`` replace the SQLite state store's
    tables (unit tests)."""
    index = CityIndex(load_city(settings.city_file))
    metrics = ApiMetrics()
    topics = TopicScheme(settings.mqtt.topic_root)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            influx = await stack.enter_async_context(InfluxClient(settings.influx))
            location = settings.state_location()
            store = key_store if key_store is not None else stack.enter_context(StateStore(location))
            db = store if isinstance(store, StateStore) else stack.enter_context(StateStore(location))
            records: CommandLog = SqlCommandLog(db.connection) if command_log is None else command_log
            access = DepartmentAccess(index, GrantStore(db.connection))
            trail = AuditTrail(location)
            limiter: PublicLimiter = RateLimiter(settings.public_rate_per_s, settings.public_burst)
            if db.connection.dialect == "postgresql":  # replicas share it: one budget per client across them
                limiter = SharedRateLimiter(db.connection, settings.public_rate_per_s, settings.public_burst)
            hub = StreamHub(lambda device: d.district_id if (d := app.state.api.index.devices.get(device)) else None)
            latest, snapshot = LatestCache(on_change=hub.publish), HealthSnapshot()
            desk = CommandDesk(records, topics, expiry_s=settings.command_expiry_s)
            link = None
            if settings.commands:
                link = BrokerLink(
                    settings.mqtt,
                    ack_filter=topics.device_filter(TopicKind.COMMAND_ACK),
                    on_ack=desk.on_ack,
                    session_expiry_s=settings.command_expiry_s,
                    publish_timeout_s=settings.command_publish_timeout_s,
                )
                desk.publisher = link
            refresher = Refresher(
                influx,
                lambda: read_device_health(influx),
                latest=latest,
                health=snapshot,
                refresh_s=settings.latest_refresh_s,
                window_s=settings.latest_window_s,
                lookback_s=settings.latest_lookback_s,
                health_refresh_s=settings.health_refresh_s,
            )
            app.state.api = ApiState(
                settings=settings,
                index=index,
                influx=influx,
                keys=KeyRing(store),
                latest=latest,
                health=snapshot,
                limiter=limiter,
                metrics=metrics,
                refresher=refresher,
                commands=desk,
                stream=hub,
                access=access,
                audit=trail,
                rollups=RollupWatch(influx, ttl_s=settings.rollup_watch_s),
                answers=AnswerCache(settings.answer_cache_mb * 1024 * 512, answer_bytes),
                closed=AnswerCache(settings.answer_cache_mb * 1024 * 512, series_bytes),
            )
            log.info(
                "planning API: %d districts, %d facilities, %d devices; InfluxDB %s/%s",
                len(index.districts),
                len(index.facilities),
                len(index.devices),
                settings.influx.url,
                settings.influx.database,
            )
            async with asyncio.TaskGroup() as tasks:
                running = [
                    tasks.create_task(refresher.run(), name="latest-cache"),
                    tasks.create_task(desk.run_expiry(), name="command-expiry"),
                    tasks.create_task(trail.run(), name="audit"),
                    tasks.create_task(
                        follow_city(
                            settings.city_file,
                            CityIndex,
                            lambda fresh: reload_city(app.state.api, fresh),
                            interval_s=settings.city_reload_s,
                        ),
                        name="city-watch",
                    ),
                ]
                if link is not None:
                    running.append(tasks.create_task(link.run(), name="broker"))
                # Everything built so far (the city index above all) lives as long as the app: kept out of the
                # collector's passes, which an answer of 10,000 points triggers several times (the passes over
                # this heap more than doubled the CPU time of such an answer). Released again at shutdown.
                gc.freeze()
                try:
                    yield
                finally:
                    gc.unfreeze()
                    for task in running:
                        task.cancel()

    app = FastAPI(
        title="smartcity planning API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.add_middleware(AuditMiddleware, identify=_key_of, trail=_trail_of)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_problem_handlers(app, retry_after_s=settings.retry_after_s)
    app.include_router(probes.router())
    app.include_router(catalogue.router(settings))
    app.include_router(open_data.router())
    app.include_router(open_exports.router())
    app.include_router(devices.router(settings))
    app.include_router(health.router(settings))
    app.include_router(readings.router(settings))
    app.include_router(indicators.router(settings))
    app.include_router(quality.router(settings))
    app.include_router(stream.router(settings))
    app.include_router(commands.router(settings))
    app.include_router(keys.router())
    app.include_router(grants.router())
    app.include_router(decommission.router(settings))
    app.include_router(audit.router(settings))
    city_page.install(app)  # the city page at /, its static files under /page
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _key_of(scope: Scope, key: str) -> KeyRecord | None:
    state: ApiState | None = getattr(scope["app"].state, "api", None)
    return state.keys.check(key) if state is not None else None


def _trail_of(scope: Scope) -> AuditTrail | None:
    state: ApiState | None = getattr(scope["app"].state, "api", None)
    return state.audit if state is not None else None


_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds until a request is allowed", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "string"}}},
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error answer described as what it is: problem details only."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for route, path in document["paths"].items():
        for method, operation in path.items():
            _add_example(operation, EXAMPLES.get((method, route)))
            if "catalogue" in operation.get("tags", ()) and operation.get("security"):
                operation["security"] = [{}, *operation["security"]]  # a key is optional: without one, public
            for status, answer in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    answer["content"] = {PROBLEM_JSON: problem}
                    if int(status) in _HEADERS:
                        answer["headers"] = _HEADERS[int(status)]
                if status == "304":
                    answer.pop("content", None)
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = document
    return document


def _add_example(operation: dict[str, Any], example: Any) -> None:
    """Put ``example`` (from :mod:`services.api.examples`) under the operation's JSON success answer."""
    if example is None:
        return
    for status, answer in operation.get("responses", {}).items():
        if status in ("200", "201", "202"):
            media = answer.get("content", {}).get("application/json")
            if media is not None:
                media.setdefault("example", example)
