"""``DELETE /v1/devices/{device_id}``: decommission a device, for admins (policy in :mod:`services.api.decommission`).

The request is audited like every request with a key (route, device id, status); its ``rows`` are the series
removed, so the audit says what was done. Order: the broker account first (no new data), then the city file, then
the series; a failed step answers 503 and a repeated request finishes the rest.
"""

import asyncio
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.api import decommission
from services.api.audit import count_rows
from services.api.deps import Admin, StateDep
from services.api.problems import ApiProblem, not_found, problem_responses
from services.api.settings import ApiSettings
from smartcity.city.load import CityFileError

log = logging.getLogger(__name__)


class DecommissionOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str
    removed_measurements: list[str] = Field(
        description="measurements whose series of the device were dropped, in every retention policy"
    )
    kept_measurements: list[str] = Field(
        description="environmental measurements kept as the city's history (SMARTCITY_API_DECOMMISSION_KEEPS_"
        "ENVIRONMENTAL)"
    )
    removed_series: int = Field(description="series dropped (one per measurement and tag set, all policies together)")
    broker_account: Literal["revoked", "absent", "unmanaged"] = Field(
        description="revoked: removed from the broker's password file (and the broker told to re-read it); absent: "
        "it had none; unmanaged: no SMARTCITY_API_BROKER_PASSWORD_FILE, credentials follow the city file"
    )
    city_file: Literal["removed", "absent", "unchanged"] = Field(
        description="removed: the device left the city file; absent: it was not in it; unchanged: "
        "SMARTCITY_API_DECOMMISSION_EDITS_CITY is off"
    )


EXAMPLE = {
    "device_id": "occ-000412",
    "removed_measurements": ["dead_letters", "device_health", "occupancy", "quality_flag"],
    "kept_measurements": [],
    "removed_series": 3,
    "broker_account": "revoked",
    "city_file": "removed",
}


def _incomplete(step: str, exc: Exception) -> ApiProblem:
    log.warning("decommissioning stopped at %s: %s", step, exc)
    return ApiProblem(
        503,
        "decommission-incomplete",
        f"could not {step} ({type(exc).__name__}); nothing after it was done: repeat the request",
        headers={"Retry-After": "5"},
    )


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["catalogue"], responses=problem_responses(401, 403, 404, 422, 429, 503))

    @api.delete("/devices/{device_id}", response_model=DecommissionOut)
    async def decommission_device(
        state: StateDep,
        caller: Admin,
        device_id: Annotated[str, Path(max_length=200, examples=["occ-000412"])],
    ) -> JSONResponse:
        """Decommission a device: revoke its broker account (where the API manages the password file), remove
        it from the city file (where allowed), then drop its series from InfluxDB (raw points and every roll-up
        tier) but for environmental measurements the policy keeps, and the platform's own records of it.
        Repeating it does nothing more (once the device left the city file: 404). An admin key of a department
        decommissions devices at facilities of the kinds its department owns."""
        device = state.index.devices.get(device_id)
        if device is None or not caller.sees(device.district_id):
            raise not_found("device", device_id)
        if caller.department is not None:
            kind = state.index.facilities[device.facility_id].kind
            if state.access.ownership.kind_owner.get(kind) != caller.department:
                raise ApiProblem(
                    403,
                    "forbidden",
                    f"an admin key of a department decommissions devices at its own facility kinds only: "
                    f"{kind.value} is not {caller.department}'s",
                )
        account = "unmanaged"
        if settings.broker_password_file is not None:
            try:
                revoked = await asyncio.to_thread(decommission.revoke_account, settings.broker_password_file, device.id)
                if revoked and settings.broker_pid_file is not None:
                    await asyncio.to_thread(decommission.reload_broker, settings.broker_pid_file)
            except (OSError, ValueError) as exc:
                raise _incomplete("revoke the broker account", exc) from None
            account = "revoked" if revoked else "absent"
        city = "unchanged"
        if settings.decommission_edits_city:
            try:
                removed = await asyncio.to_thread(decommission.remove_from_city, settings.city_file, device.id)
            except (OSError, CityFileError) as exc:
                raise _incomplete("remove the device from the city file", exc) from None
            city = "removed" if removed else "absent"
        chosen = decommission.plan(device, keep_environmental=settings.decommission_keeps_environmental)
        series = await decommission.remove(state.influx, device.id, chosen.remove)
        # What this process holds of the dropped data goes too: the latest values, and answers computed from it
        # (other API processes: within their latest window and at the roll-up worker's next redo).
        state.latest.forget(device.id, decommission.metrics_in(device, chosen.remove))
        state.answers.clear()
        state.closed.clear()
        count_rows(series)
        log.info("decommissioned %s: %d series dropped, broker account %s, city %s", device.id, series, account, city)
        return JSONResponse(
            {
                "device_id": device.id,
                "removed_measurements": list(chosen.remove),
                "kept_measurements": list(chosen.keep),
                "removed_series": series,
                "broker_account": account,
                "city_file": city,
            }
        )

    return api
