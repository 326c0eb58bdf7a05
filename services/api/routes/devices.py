"""``/v1/devices``: the device registry, with details and health figures for planners and above."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from services.api.deps import ApiState, Caller, CallerDep, StateDep
from services.api.keys import Role
from services.api.problems import not_found
from services.api.routes.catalogue import visible_district
from services.api.routes.common import CATALOGUE_ERRORS, Cursor, Ident, page, single
from services.api.schemas import DeviceOut, Page, iso
from services.api.settings import ApiSettings
from smartcity.city.model import Device, DeviceType, NetworkClass
from smartcity.contract.metrics import DEVICE_METRICS
from smartcity.health import DeviceHealth


def loss(health: DeviceHealth) -> float | None:
    """Share of the device's readings lost upstream; None before anything was counted."""
    total = health.gaps + health.readings
    return round(health.gaps / total, 6) if total else None


def device_item(state: ApiState, device: Device, caller: Caller) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": device.id,
        "type": device.type.value,
        "network": device.network.value,
        "facility_id": device.facility_id,
        "district_id": device.district_id,
        "location": device.location.model_dump(),
        "metrics": list(DEVICE_METRICS[device.type]),
    }
    if not caller.role.may(Role.PLANNER):
        return item
    item |= {
        "ipv6": str(device.ipv6),
        "firmware": device.firmware,
        "radio": device.radio.value if device.radio else None,
        "report_interval_s": device.report_interval_s,
    }
    health = state.health.devices.get(device.id)
    if health is not None:
        item |= {
            "online": health.online,
            "last_seen": iso(health.last_seen_ms) if health.last_seen_ms else None,
            "gaps": health.gaps,
            "loss": loss(health),
        }
    return item


def visible_device(state: ApiState, caller: Caller, device_id: str) -> Device:
    device = state.index.devices.get(device_id)
    if device is None or not caller.sees(device.district_id):
        raise not_found("device", device_id)
    return device


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["catalogue"], responses=CATALOGUE_ERRORS)
    Limit = Annotated[
        int,
        Query(
            ge=1,
            le=settings.max_page_limit,
            description=f"items per page (at most {settings.max_page_limit})",
            examples=[50],
        ),
    ]

    @api.get("/devices", response_model=Page[DeviceOut], responses={304: {"description": "not modified"}})
    async def devices(
        request: Request,
        state: StateDep,
        caller: CallerDep,
        type: DeviceType | None = None,
        network: NetworkClass | None = None,
        facility: Annotated[Ident | None, Query(description="devices at this facility", examples=["sch-0001"])] = None,
        district: Annotated[Ident | None, Query(description="devices in this district", examples=["altstadt"])] = None,
        limit: Limit = settings.page_limit,
        cursor: Cursor = None,
    ) -> Response:
        """Devices with their type, network class and facility. Planners and above also see the IPv6 address,
        firmware, report interval, online state, last seen and sequence-gap loss (from device health, refreshed
        every `SMARTCITY_API_HEALTH_REFRESH_S`)."""
        index = state.index
        if facility is not None:
            found = index.facilities.get(facility)
            if found is None or not caller.sees(found.district_id):
                raise not_found("facility", facility)
            chosen = index.facility_devices(facility)
        elif district is not None:
            visible_district(index, caller, district)
            chosen = index.district_devices(district)
        else:
            chosen = [d for d in index.devices.values() if caller.sees(d.district_id)]
        if district is not None:
            chosen = [d for d in chosen if d.district_id == district]
        if type is not None:
            chosen = [d for d in chosen if d.type is type]
        if network is not None:
            chosen = [d for d in chosen if d.network is network]
        filters = {"t": type, "n": network, "f": facility, "d": district, "r": caller.role}
        return page(
            request,
            chosen,
            lambda d: device_item(state, d, caller),
            limit=limit,
            cursor=cursor,
            city=index.fingerprint,
            filters=filters,
        )

    @api.get("/devices/{device_id}", response_model=DeviceOut, responses={304: {"description": "not modified"}})
    async def device(
        request: Request,
        state: StateDep,
        caller: CallerDep,
        device_id: Annotated[str, Path(max_length=200, examples=["aq-000001"])],
    ) -> Response:
        """One device."""
        return single(request, device_item(state, visible_device(state, caller, device_id), caller))

    return api
