"""``/v1/quality``: the quality worker's flags (planner and above), by district, facility, device, kind and state,
over a period, in cursor pages. A key scoped to districts sees the flags of its districts only."""

import enum
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.api.deps import Planner, StateDep
from services.api.indicators.period import EARLIEST_MS, LATEST_MS
from services.api.pagination import paginate, query_fingerprint
from services.api.problems import invalid, not_found, problem_responses
from services.api.quality import flags_over
from services.api.routes.common import Cursor
from services.api.schemas import Page, iso
from services.api.settings import ApiSettings
from smartcity.quality_flags import Flag, FlagKind

DEFAULT_DAYS = 7
MAX_DAYS = 93
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class FlagState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    ALL = "all"


class QualityFlagOut(BaseModel):
    """One flag: a condition the quality worker saw on a device, from `start` to `end` (null while it lasts)."""

    model_config = ConfigDict(extra="forbid")

    device: str = Field(examples=["aq-000001"])
    device_type: str = Field(examples=["air_quality"])
    district: str = Field(examples=["altstadt"])
    facility: str = Field(examples=["sch-0001"])
    kind: FlagKind
    metric: str | None = Field(description="the metric it is about; null for device-wide kinds", examples=["no2"])
    reason: str = Field(examples=["no2 held 31.4 for 6 h (72 readings)"])
    score: float = Field(description="how far beyond its threshold (>= 1)", examples=[2.0])
    start: datetime
    end: datetime | None = Field(description="null while the condition lasts")
    detected: datetime | None = Field(description="the data time the worker had judged up to when it raised it")


def _ms(moment: datetime) -> int:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return int((moment - _EARLIEST) / timedelta(milliseconds=1))


def flag_item(flag: Flag, device_type: str, district: str, facility: str) -> dict[str, Any]:
    return {
        "device": flag.device,
        "device_type": device_type,
        "district": district,
        "facility": facility,
        "kind": flag.kind.value,
        "metric": flag.metric or None,
        "reason": flag.reason,
        "score": flag.score,
        "start": iso(flag.start_ms),
        "end": None if flag.open else iso(flag.end_ms),
        "detected": iso(flag.detected_ms) if flag.detected_ms else None,
    }


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["quality"], responses=problem_responses(401, 403, 404, 422, 429, 503))

    @api.get("/quality", response_model=Page[QualityFlagOut])
    async def quality(
        state: StateDep,
        caller: Planner,
        district: Annotated[
            str | None, Query(max_length=200, description="flags in this district", examples=["altstadt"])
        ] = None,
        facility: Annotated[
            str | None, Query(max_length=200, description="flags of this facility's devices", examples=["sch-0001"])
        ] = None,
        device: Annotated[
            str | None, Query(max_length=200, description="flags of this device", examples=["aq-000001"])
        ] = None,
        kind: Annotated[FlagKind | None, Query(description="flags of this kind")] = None,
        flag_state: Annotated[
            FlagState, Query(alias="state", description="open (lasting), closed (ended) or all")
        ] = FlagState.ALL,
        start: Annotated[
            datetime | None,
            Query(
                description=f"flags lasting into start..end; default end - {DEFAULT_DAYS} days",
                examples=["2025-04-14T00:00:00Z"],
            ),
        ] = None,
        end: Annotated[
            datetime | None, Query(description="exclusive, ISO 8601; default now", examples=["2025-04-21T00:00:00Z"])
        ] = None,
        limit: Annotated[int, Query(ge=1, le=settings.max_page_limit, examples=[50])] = settings.page_limit,
        cursor: Cursor = None,
    ) -> JSONResponse:
        """The flags that overlap `start`..`end`, newest start first: device, kind, metric, reason, score, start and
        end (null while the condition lasts). 404 for a district, facility or device outside the key's districts;
        422 for a period that ends before it starts or is longer than 93 days."""
        end_ms = _ms(end) if end is not None else _ms(datetime.now(UTC))
        start_ms = _ms(start) if start is not None else end_ms - DEFAULT_DAYS * 86_400_000
        for name, moment in (("query.end", end_ms), ("query.start", start_ms)):
            if not EARLIEST_MS <= moment < LATEST_MS:  # InfluxDB's times end in 2262
                raise invalid(name, "must lie between 1970-01-01 and 2200-01-01")
        if end_ms <= start_ms:
            raise invalid("query.end", "must be after start")
        if end_ms - start_ms > MAX_DAYS * 86_400_000:
            raise invalid("query.start", f"the period may be at most {MAX_DAYS} days")
        index = state.index
        if district is not None and (district not in index.districts or not caller.sees(district)):
            raise not_found("district", district)
        if facility is not None:
            place = index.facilities.get(facility)
            if place is None or not caller.sees(place.district_id):
                raise not_found("facility", facility)
        if device is not None:
            known = index.devices.get(device)
            if known is None or not caller.sees(known.district_id):
                raise not_found("device", device)
        found = await flags_over(state.influx, start_ms, end_ms, district=district, facility=facility, device=device)
        chosen = []
        for flag in sorted(found, key=lambda f: (-f.start_ms, f.device, f.kind.value, f.metric)):
            info = index.devices.get(flag.device)
            if info is None or not caller.sees(info.district_id):
                continue
            if (kind is not None and flag.kind is not kind) or (
                flag_state is not FlagState.ALL and flag.open != (flag_state is FlagState.OPEN)
            ):
                continue
            chosen.append(flag_item(flag, info.type.value, info.district_id, info.facility_id))
        fingerprint = query_fingerprint(
            index.fingerprint, d=district, f=facility, v=device, k=kind, s=flag_state, a=start, b=end
        )
        page, next_cursor = paginate(chosen, limit=limit, cursor=cursor, fingerprint=fingerprint)
        return JSONResponse({"items": list(page), "next_cursor": next_cursor})

    return api
