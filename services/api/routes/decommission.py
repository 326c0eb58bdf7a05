"""``DELETE /v1/devices/{device_id}``: decommission a device, for admins (policy in :mod:`services.api.decommission`).

The request is audited like every request with a key (route, device id, status); its ``rows`` are the series
removed, so the audit says what was done.
"""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.api import decommission
from services.api.audit import count_rows
from services.api.deps import Admin, StateDep
from services.api.problems import not_found, problem_responses
from services.api.settings import ApiSettings


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


EXAMPLE = {
    "device_id": "occ-000412",
    "removed_measurements": ["dead_letters", "device_health", "occupancy", "quality_flag"],
    "kept_measurements": [],
    "removed_series": 3,
}


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["catalogue"], responses=problem_responses(401, 403, 404, 422, 429, 503))

    @api.delete("/devices/{device_id}", response_model=DecommissionOut)
    async def decommission_device(
        state: StateDep,
        caller: Admin,
        device_id: Annotated[str, Path(max_length=200, examples=["occ-000412"])],
    ) -> JSONResponse:
        """Decommission a device: drop its series from InfluxDB (raw points and every roll-up tier) but for
        environmental measurements the policy keeps, and the platform's own records of it. Repeating it removes
        nothing more. The device stays in the city file until the file is changed; broker credentials are the
        city file's (docs/PRIVACY.md)."""
        device = state.index.devices.get(device_id)
        if device is None or not caller.sees(device.district_id):
            raise not_found("device", device_id)
        chosen = decommission.plan(device, keep_environmental=settings.decommission_keeps_environmental)
        removed = await decommission.remove(state.influx, device.id, chosen.remove)
        count_rows(removed)
        return JSONResponse(
            {
                "device_id": device.id,
                "removed_measurements": list(chosen.remove),
                "kept_measurements": list(chosen.keep),
                "removed_series": removed,
            }
        )

    return api
