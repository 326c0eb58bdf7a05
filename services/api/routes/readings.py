"""``/v1/latest`` (from the last-value cache) and ``/v1/history`` (from the store): planner and above."""

import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.api.answers import Answer, RecentAnswers
from services.api.audit import count_rows
from services.api.catalogue import Selection, reporting
from services.api.compression import respond
from services.api.deps import ApiState, Caller, Planner, StateDep
from services.api.history import (
    Resolution,
    aggregations_for,
    choose_resolution,
    read_history,
    rollup_cut,
)
from services.api.history_answers import SPLICED_FORMATS, HistoryAsked, encode_fragment, encode_history, splice_history
from services.api.latest_answers import LatestAnswers
from services.api.problems import ApiProblem, invalid, not_found, problem_responses
from services.api.queries import Agg
from services.api.schemas import HistoryOut, LatestOut, iso
from services.api.settings import ApiSettings
from smartcity.contract.metrics import METRICS, MetricSpec
from smartcity.influx.client import ParamValue, Series

SENML_JSON = "application/senml+json"
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)

DeviceParam = Annotated[str | None, Query(max_length=200, description="a device id", examples=["aq-000001"])]
FacilityParam = Annotated[str | None, Query(max_length=200, description="a facility id", examples=["sch-0001"])]
DistrictParam = Annotated[str | None, Query(max_length=200, description="a district id", examples=["altstadt"])]


def select(
    state: ApiState, caller: Caller, device: str | None, facility: str | None, district: str | None
) -> Selection:
    """The one device, facility or district a request names: 422 unless exactly one is given, 404 for an id
    that does not exist or lies outside the caller's districts."""
    given = [
        (scope, ident)
        for scope, ident in (("device", device), ("facility", facility), ("district", district))
        if ident is not None
    ]
    if len(given) != 1:
        names = ", ".join(f"query.{scope}" for scope, _ident in given) or "none"
        raise ApiProblem(422, "invalid-parameters", f"give exactly one of device, facility or district (got {names})")
    scope, ident = given[0]
    selection = state.index.selection(scope, ident)
    if selection is None or not all(caller.sees(d) for d in selection.district_ids):
        raise not_found(scope, ident)
    return selection


def metric_of(name: str) -> MetricSpec:
    spec = METRICS.get(name)
    if spec is None:
        raise invalid("query.metric", f"unknown metric {name[:80]!r}: /v1/metrics lists them")
    return spec


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def router(settings: ApiSettings) -> APIRouter:
    answers = LatestAnswers()
    recent: RecentAnswers[Answer] = RecentAnswers(settings.history_fresh_s)
    """History answers that read raw points, for ``history_fresh_s``."""
    api = APIRouter(prefix="/v1", tags=["readings"], responses=problem_responses(401, 403, 404, 422, 429, 503))

    @api.get("/latest", response_model=LatestOut)
    async def latest(
        request: Request,
        state: StateDep,
        caller: Planner,
        device: DeviceParam = None,
        facility: FacilityParam = None,
        district: DistrictParam = None,
        metric: Annotated[str | None, Query(max_length=200, description="only this metric", examples=["pm25"])] = None,
    ) -> Response:
        """The newest value of every metric (or of `metric`) of one device, or of every device of a facility or
        district, from the last-value cache (refreshed every few seconds; `as_of` says when). Values older than
        the latest window (`SMARTCITY_API_LATEST_WINDOW_S`) are not listed."""
        selection = select(state, caller, device, facility, district)
        spec = metric_of(metric) if metric is not None else None
        state.access.require(caller.department, state.access.selection_pairs(selection, spec.name if spec else None))
        cache = state.latest
        if cache.refreshed_ms is None:
            raise ApiProblem(
                503,
                "store-unavailable",
                "the last-value cache has not been filled yet: the time-series store has not answered",
                headers={"Retry-After": str(settings.retry_after_s)},
            )
        since = int(time.time() * 1000) - settings.latest_window_s * 1000
        found = answers.answer(cache, selection, spec.name if spec else None, since)
        return respond(request, found.body, "application/json", found.gzipped)

    @api.get(
        "/history",
        response_model=HistoryOut,
        responses={
            200: {
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    SENML_JSON: {"schema": {"type": "array", "items": {"type": "object"}}},
                }
            }
        },
    )
    async def history(
        request: Request,
        state: StateDep,
        caller: Planner,
        metric: Annotated[str, Query(max_length=200, description="a metric name from /v1/metrics", examples=["pm25"])],
        device: DeviceParam = None,
        facility: FacilityParam = None,
        district: DistrictParam = None,
        start: Annotated[
            datetime | None,
            Query(
                description="inclusive, ISO 8601 (UTC when no offset); default end - 24 h",
                examples=["2025-04-14T00:00:00Z"],
            ),
        ] = None,
        end: Annotated[
            datetime | None, Query(description="exclusive, ISO 8601; default now", examples=["2025-04-15T00:00:00Z"])
        ] = None,
        resolution: Annotated[Resolution, Query(description="raw points, 1m/1h/1d buckets, or auto")] = Resolution.AUTO,
        agg: Annotated[Agg, Query(description="how a bucket's points become one value (ignored for raw)")] = Agg.MEAN,
        format: Annotated[
            Literal["json", "csv", "senml"], Query(description="json, csv or senml (SenML JSON)")
        ] = "json",
    ) -> Response:
        """The values of one metric for a device, facility or district between `start` and `end`: raw points (one
        series per device) or one aggregated value per UTC-aligned bucket over all devices of the selection
        (buckets without data are left out). Refused with 422 when the answer would exceed the point limit."""
        selection = select(state, caller, device, facility, district)
        spec = metric_of(metric)
        end_at = _utc(end) if end is not None else datetime.now(UTC)
        start_at = _utc(start) if start is not None else end_at - timedelta(days=1)
        for name, moment in (("query.start", start_at), ("query.end", end_at)):
            if not _EARLIEST <= moment < _LATEST:
                raise invalid(name, "must lie between 1970-01-01 and 2200-01-01")
        if start_at >= end_at:
            raise invalid("query.start", f"must be before end ({iso(int(end_at.timestamp() * 1000))})")
        devices = reporting(selection.devices, spec)
        if not devices:
            raise invalid("query.metric", f"no device of {selection.scope} {selection.ident!r} reports {spec.name!r}")
        if resolution is not Resolution.RAW and agg not in aggregations_for(spec):
            allowed = ", ".join(a.value for a in aggregations_for(spec))
            raise invalid("query.agg", f"{spec.name} is a {spec.kind.value} metric: agg may be {allowed}")
        state.access.require(caller.department, state.access.selection_pairs(selection, spec.name))
        start_ms, end_ms = int(start_at.timestamp() * 1000), int(end_at.timestamp() * 1000)
        span_ms = end_ms - start_ms
        plan = choose_resolution(resolution, span_ms=span_ms, devices=devices, max_points=settings.max_points, agg=agg)
        generation = await state.rollups.generation()
        completed = await state.rollups.completed(plan.tier.name.value) if plan.tier is not None else None
        timezone = state.index.city.timezone

        span = (start_ms, end_ms)
        asked = HistoryAsked(spec, selection, plan, agg, span, format, settings.max_points)
        cut = rollup_cut(span, plan, completed, timezone)

        def closed_series(query: str, values: dict[str, ParamValue]) -> Awaitable[list[Series]]:
            key = (query, tuple(sorted(values.items())))
            return state.closed.get(key, generation, lambda: state.influx.query(query, values))

        def closed_fragment(query: str, values: dict[str, ParamValue]) -> Awaitable[Answer]:
            async def encoded() -> Answer:
                return encode_fragment(await state.influx.query(query, values), format)

            return state.answers.get(("fragment", format, query, tuple(sorted(values.items()))), generation, encoded)

        async def answer() -> Answer:
            read = partial(
                read_history,
                state.influx,
                spec,
                selection.scope,
                selection.ident,
                span,
                plan,
                agg,
                timezone=timezone,
                limit=settings.max_points + 1,
                cut=cut,
            )
            if plan.bucket_s is not None and format in SPLICED_FORMATS:
                raw, fragment = await read(closed=closed_fragment)
                return splice_history(raw, fragment, cut, asked)
            raw, series = await read(closed=closed_series)
            return encode_history([*raw, *(series or [])], asked)

        if cut == span:
            # wholly from closed roll-up windows: the same answer until the worker redoes one
            key = ("history", spec.name, selection.scope, selection.ident, start_ms, end_ms, plan, agg, format)
            found = await state.answers.get(key, generation, answer)
            count_rows(found.rows)
            return respond(request, found.body, _MEDIA_TYPES[format], found.gzipped)
        if settings.history_fresh_s:  # its newest raw minutes at most history_fresh_s old, compressed once
            key = ("history", spec.name, selection.scope, selection.ident, start_ms, end_ms, plan, agg, format)
            found = await recent.get((key, generation, completed), answer)
            count_rows(found.rows)
            return respond(request, found.body, _MEDIA_TYPES[format], found.gzipped)
        found = await answer()
        count_rows(found.rows)
        return respond(request, found.body, _MEDIA_TYPES[format])

    return api


_MEDIA_TYPES = {"json": "application/json", "csv": "text/csv", "senml": SENML_JSON}
