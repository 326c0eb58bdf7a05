"""``/v1/indicators`` (the definitions) and ``/v1/indicators/{name}`` (values per district or facility kind over a
period, from the roll-ups): planner and above. A key scoped to districts gets values for its districts only."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.api.answers import Answer, RecentAnswers
from services.api.audit import count_rows
from services.api.compression import respond
from services.api.deps import Planner, StateDep
from services.api.indicators.compute import IndicatorRequest, compute, membership
from services.api.indicators.definitions import INDICATORS, Method
from services.api.indicators.models import (
    VALUES_EXAMPLE,
    IndicatorList,
    IndicatorValues,
    definition_item,
    values_body,
)
from services.api.indicators.period import TIERS, check_period, whole_windows
from services.api.indicators.statements import GroupBy
from services.api.problems import invalid, not_found, problem_responses
from services.api.quality import exclusion, flags_over
from services.api.settings import ApiSettings
from smartcity.city.model import FacilityKind
from smartcity.quality_flags import Flag
from smartcity.rollups import LocalDays

DEFAULT_DAYS = 7
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return int((moment - _EARLIEST) / timedelta(milliseconds=1))


def router(settings: ApiSettings) -> APIRouter:
    recent_flags: RecentAnswers[list[Flag]] = RecentAnswers(settings.flags_watch_s)
    """The quality worker's flags over a period, read again after ``flags_watch_s``."""
    coverage: dict[tuple[object, ...], list[str]] = {}
    """The devices an indicator covers in a selection."""
    api = APIRouter(prefix="/v1", tags=["indicators"], responses=problem_responses(401, 403, 404, 422, 429, 503))

    @api.get("/indicators", response_model=IndicatorList)
    async def indicators(caller: Planner) -> JSONResponse:
        """Every indicator's definition: name, description, unit, formula, source metrics, facility kinds, the
        roll-up tier it reads and the longest period it may be asked for."""
        return JSONResponse({"items": [definition_item(indicator) for indicator in INDICATORS.values()]})

    @api.get(
        "/indicators/{name}",
        response_model=IndicatorValues,
        responses={200: {"content": {"application/json": {"example": VALUES_EXAMPLE}}}},
    )
    async def indicator(
        http: Request,
        state: StateDep,
        caller: Planner,
        name: Annotated[str, Path(max_length=200, description="an indicator name", examples=["pm25_hours_above_who"])],
        start: Annotated[
            datetime | None,
            Query(
                description=f"inclusive, ISO 8601 (UTC when no offset); default end - {DEFAULT_DAYS} days",
                examples=["2025-04-01T00:00:00Z"],
            ),
        ] = None,
        end: Annotated[
            datetime | None, Query(description="exclusive, ISO 8601; default now", examples=["2025-05-01T00:00:00Z"])
        ] = None,
        group_by: Annotated[GroupBy, Query(description="one value per district or per facility kind")] = (
            GroupBy.DISTRICT
        ),
        district: Annotated[
            str | None, Query(max_length=200, description="only this district", examples=["altstadt"])
        ] = None,
        facility_kind: Annotated[
            FacilityKind | None, Query(description="only facilities of this kind (one the indicator covers)")
        ] = None,
        include_flagged: Annotated[
            bool, Query(description="true: keep devices the quality worker flagged as stuck, spiking or drifting")
        ] = False,
    ) -> Response:
        """The indicator's value per district (or facility kind) over `start`..`end`, computed from the roll-ups
        over the whole windows (hours, or local days) in the period that the roll-up worker has completed; each
        group says its value, unit, the source windows and devices it used, and the period. Groups are those with
        devices for the indicator (in the key's districts). 422 for a period that ends before it starts, lies
        outside 1970..2200 or is longer than the indicator's `max_days`. Devices with a stuck, spike or drift flag
        in the period are left out unless `include_flagged=true`; `excluded` says how many and why."""
        definition = INDICATORS.get(name)
        if definition is None:
            raise not_found("indicator", name)
        end_ms = _ms(end) if end is not None else _ms(datetime.now(UTC))
        start_ms = _ms(start) if start is not None else end_ms - DEFAULT_DAYS * 86_400_000
        check_period(start_ms, end_ms, definition.source)
        if district is not None:
            if district not in state.index.districts or not caller.sees(district):
                raise not_found("district", district)
            districts: tuple[str, ...] = (district,)
        else:
            districts = tuple(sorted(caller.districts))
        if facility_kind is not None and facility_kind not in definition.facility_kinds:
            covered = ", ".join(kind.value for kind in definition.facility_kinds)
            raise invalid("query.facility_kind", f"{definition.name} covers {covered}")
        timezone = state.index.city.timezone
        tier = TIERS.get(definition.source)
        generation = await state.rollups.generation()
        completed = await state.rollups.completed(tier.name.value) if tier is not None else None
        period = whole_windows(start_ms, end_ms, definition.source, LocalDays(timezone), completed)
        request = IndicatorRequest(
            definition,
            group_by,
            period,
            database=state.influx.settings.database,
            timezone=timezone,
            districts=districts,
            kind=facility_kind,
        )
        state.access.require(caller.department, state.access.indicator_pairs(definition, request.kinds))
        flags = await recent_flags.get(
            (period.start_ms, period.end_ms), lambda: flags_over(state.influx, period.start_ms, period.end_ms)
        )
        covers = (name, group_by, districts, facility_kind)
        if (members := coverage.get(covers)) is None:  # the city model is fixed while the API runs
            members = coverage[covers] = sorted(membership(state.index, request).device_group)
        flagged = exclusion(flags, members, include_flagged=include_flagged or definition.method is Method.QUALITY)
        request = replace(request, exclude=flagged.excluded)

        async def answer() -> Answer:
            groups = await compute(state.influx, state.index, request)
            values = values_body(definition, group_by.value, facility_kind, period, groups, flagged.body())
            body = JSONResponse(values).body
            return Answer(bytes(body), len(groups))

        if tier is None:  # device health is not rolled up: every answer is computed
            found = await answer()
            count_rows(found.rows)
            return respond(http, found.body, "application/json")
        key = (
            *("indicator", name, group_by, facility_kind, districts, period.start_ms, period.end_ms, completed),
            *(include_flagged, flagged.excluded, flagged.flagged),
        )
        found = await state.answers.get(key, generation, answer)
        count_rows(found.rows)
        return respond(http, found.body, "application/json", found.gzipped)

    return api
