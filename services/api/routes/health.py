"""``/v1/devices/{id}/health`` and ``/v1/health/devices``: device health merged across gateway replicas
(operator and above), from the snapshot the refresher keeps (:mod:`services.api.cache`)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from services.api.deps import ApiState, Operator, StateDep
from services.api.pagination import paginate, query_fingerprint
from services.api.problems import ApiProblem, problem_responses
from services.api.routes.catalogue import visible_district
from services.api.routes.common import Cursor
from services.api.routes.devices import loss, visible_device
from services.api.schemas import DeviceHealthOut, Page, iso
from services.api.settings import ApiSettings
from smartcity.health import DeviceHealth


def health_item(health: DeviceHealth) -> dict[str, Any]:
    return {
        "device": health.device,
        "online": health.online,
        "last_seen": iso(health.last_seen_ms) if health.last_seen_ms else None,
        "readings": health.readings,
        "gaps": health.gaps,
        "loss": loss(health),
        "duplicates": health.duplicates,
        "first_seq": health.first_seq,
        "last_seq": health.last_seq,
        "restarts": health.restarts,
        "clock_offset_ms": health.clock_offset_ms,
        "replicas": list(health.replicas),
    }


def _snapshot(state: ApiState) -> dict[str, DeviceHealth]:
    if state.health.refreshed_ms is None:
        raise ApiProblem(
            503,
            "store-unavailable",
            "device health has not been read yet: the time-series store has not answered",
            headers={"Retry-After": str(state.settings.retry_after_s)},
        )
    return state.health.devices


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["health"], responses=problem_responses(401, 403, 404, 422, 429, 503))

    @api.get("/devices/{device_id}/health", response_model=DeviceHealthOut)
    async def device_health(
        state: StateDep, caller: Operator, device_id: Annotated[str, Path(max_length=200, examples=["aq-000001"])]
    ) -> JSONResponse:
        """One device's health: readings received, sequence gaps (loss upstream of the gateways), duplicates,
        restarts, online state, last seen and clock offset. 404 while no gateway has reported on it."""
        device = visible_device(state, caller, device_id)
        health = _snapshot(state).get(device.id)
        if health is None:
            raise ApiProblem(404, "no-health", f"no gateway has reported on device {device.id!r} yet")
        return JSONResponse(health_item(health))

    @api.get("/health/devices", response_model=Page[DeviceHealthOut])
    async def devices_health(
        state: StateDep,
        caller: Operator,
        district: Annotated[
            str | None, Query(max_length=200, description="devices in this district", examples=["altstadt"])
        ] = None,
        limit: Annotated[int, Query(ge=1, le=settings.max_page_limit, examples=[50])] = settings.page_limit,
        cursor: Cursor = None,
    ) -> JSONResponse:
        """Health of every device a gateway has reported on, by device id, optionally of one district."""
        if district is not None:
            visible_district(state.index, caller, district)
        snapshot = _snapshot(state)
        chosen = [
            health
            for name, health in sorted(snapshot.items())
            if (device := state.index.devices.get(name)) is not None
            and caller.sees(device.district_id)
            and (district is None or device.district_id == district)
        ]
        fingerprint = query_fingerprint(state.index.fingerprint, d=district, h=state.health.refreshed_ms)
        page, next_cursor = paginate(chosen, limit=limit, cursor=cursor, fingerprint=fingerprint)
        return JSONResponse({"items": [health_item(h) for h in page], "next_cursor": next_cursor})

    return api
