"""``/v1/keys``: API keys, for admins (the same operations as ``smartcity api keys``)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.api.deps import Admin, StateDep
from services.api.keys import KeyRecord, Role
from services.api.problems import ApiProblem, invalid, not_found, problem_responses
from services.api.schemas import KeyOut, NewKeyOut, iso


class KeyIn(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["planner", "operator", "admin"] = Field(examples=["planner"])
    districts: list[str] = Field(default_factory=list, max_length=1000, description="empty: the whole city")
    name: str = Field(default="", max_length=200, description="who or what the key is for", examples=["traffic team"])
    department: str | None = Field(
        default=None,
        max_length=64,
        description="the department the key belongs to (it reads other departments' data through grants only); "
        "null: the city's own key, which reads everything",
        examples=["transport"],
    )


def key_item(record: KeyRecord) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "role": record.role.value,
        "districts": list(record.districts),
        "name": record.name,
        "created": iso(record.created_ms),
        "revoked": iso(record.revoked_ms) if record.revoked_ms is not None else None,
        "department": record.department,
    }


def router() -> APIRouter:
    api = APIRouter(prefix="/v1/keys", tags=["keys"], responses=problem_responses(401, 403, 429))

    @api.get("", response_model=list[KeyOut])
    async def list_keys(state: StateDep, caller: Admin) -> JSONResponse:
        """Every key (never the key itself: only its id), oldest first."""
        return JSONResponse([key_item(record) for record in state.keys.store.list()])

    @api.post("", response_model=NewKeyOut, status_code=201, responses=problem_responses(400, 422))
    async def create_key(state: StateDep, caller: Admin, body: KeyIn) -> JSONResponse:
        """A new key. The answer holds the key itself: it is shown this once and never again."""
        unknown = sorted(set(body.districts) - set(state.index.districts))
        if unknown:
            raise invalid("body.districts", f"unknown districts: {', '.join(d[:80] for d in unknown[:10])}")
        if caller.districts and not (body.districts and set(body.districts) <= caller.districts):
            raise ApiProblem(403, "forbidden", "an admin key scoped to districts creates keys within them only")
        if body.department is not None and body.department not in state.access.ownership.departments:
            raise invalid("body.department", f"unknown department {body.department[:80]!r}")
        if caller.department is not None and body.department != caller.department:
            raise ApiProblem(403, "forbidden", "an admin key of a department creates keys of that department only")
        record, key = state.keys.store.create(Role(body.role), tuple(body.districts), body.name, body.department)
        return JSONResponse(key_item(record) | {"key": key}, status_code=201)

    @api.delete("/{key_id}", response_model=KeyOut, responses=problem_responses(404, 422))
    async def revoke_key(
        state: StateDep,
        caller: Admin,
        key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", examples=["4be1a2c3d4e5"])],
    ) -> JSONResponse:
        """Revoke a key: it stops working at once in this process, within seconds in others."""
        record = state.keys.store.revoke(key_id)
        if record is None:
            raise not_found("key", key_id)
        state.keys.forget(key_id)
        return JSONResponse(key_item(record))

    return api
