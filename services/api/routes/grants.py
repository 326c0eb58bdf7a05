"""``/v1/grants``: grants between departments, for admins (the same store and checks as ``smartcity api grants``).

An admin key of a department sees the grants from and to its department, and makes and revokes grants of what its
department owns only; the city's own admin key (no department) manages every grant. A running API's access
checks see a change at the next request (:mod:`services.api.grants`).
"""

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.api.deps import Admin, ApiState, Caller, StateDep
from services.api.grants import Grant, GrantError, GrantStore, check_grant, parse_expiry
from services.api.problems import ApiProblem, invalid, not_found, problem_responses
from services.api.schemas import iso

_OPTION = re.compile(r"--([a-z-]+)")
_GrantId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", examples=["7c1e9a04b2d3"])]


class GrantIn(BaseModel):
    """A grant to make: ``to`` may read what ``from`` owns (the metrics, the facility kinds, or neither:
    everything) until ``expires``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_department: str = Field(alias="from", max_length=64, examples=["education"])
    to_department: str = Field(alias="to", max_length=64, examples=["health"])
    expires: str = Field(
        max_length=64,
        description="ISO 8601 time (UTC when no offset) or a duration from now (90d, 12h, 2w, P30D); at most 731 days",
        examples=["90d"],
    )
    metrics: list[str] = Field(default_factory=list, max_length=100, description="only these metrics of `from`")
    facility_kinds: list[str] = Field(
        default_factory=list, max_length=50, description="only readings at facilities of these kinds of `from`"
    )


class GrantOut(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    grant_id: str
    from_department: str = Field(alias="from")
    to_department: str = Field(alias="to")
    metrics: list[str]
    facility_kinds: list[str]
    covers: str = Field(description="what the grant covers, in words")
    created: str
    expires: str
    revoked: str | None
    state: str = Field(description="active, expired or revoked")


EXAMPLE: dict[str, Any] = {
    "grant_id": "7c1e9a04b2d3",
    "from": "education",
    "to": "health",
    "metrics": [],
    "facility_kinds": ["school"],
    "covers": "facility kinds school",
    "created": "2025-04-20T15:58:02.114Z",
    "expires": "2025-07-19T15:58:02.114Z",
    "revoked": None,
    "state": "active",
}


def grant_item(grant: Grant, now_ms: int) -> dict[str, Any]:
    return {
        "grant_id": grant.grant_id,
        "from": grant.from_department,
        "to": grant.to_department,
        "metrics": list(grant.metrics),
        "facility_kinds": [kind.value for kind in grant.facility_kinds],
        "covers": grant.scope,
        "created": iso(grant.created_ms),
        "expires": iso(grant.expires_ms),
        "revoked": iso(grant.revoked_ms) if grant.revoked_ms is not None else None,
        "state": grant.status(now_ms),
    }


def _problem(exc: GrantError) -> ApiProblem:
    """422 naming the body field a :class:`GrantError` is about (the first CLI option its message names)."""
    message = str(exc)
    option = _OPTION.search(message)
    field = option.group(1).replace("-", "_") if option else "body"
    return invalid(f"body.{field}", _OPTION.sub(lambda m: m.group(1).replace("-", "_"), message))


def _store(state: ApiState) -> GrantStore:
    """The app's grant store: the one its access checks read (calls are short primary-key statements, made in the
    event loop like the key routes' own)."""
    store = state.access.grants
    if not isinstance(store, GrantStore):
        raise ApiProblem(503, "state-unavailable", "grants are not kept in a state database in this process")
    return store


def _sees(caller: Caller, grant: Grant) -> bool:
    return caller.department is None or caller.department in (grant.from_department, grant.to_department)


def router() -> APIRouter:
    api = APIRouter(prefix="/v1/grants", tags=["grants"], responses=problem_responses(401, 403, 429))

    @api.get("", response_model=list[GrantOut])
    async def list_grants(state: StateDep, caller: Admin) -> JSONResponse:
        """Every grant (active, expired and revoked), oldest first; a department's admin key sees the grants from
        and to its department."""
        now_ms = int(time.time() * 1000)
        grants = _store(state).list()
        return JSONResponse([grant_item(grant, now_ms) for grant in grants if _sees(caller, grant)])

    @api.post("", response_model=GrantOut, status_code=201, responses=problem_responses(400, 422))
    async def create_grant(state: StateDep, caller: Admin, body: GrantIn) -> JSONResponse:
        """Let `to` read what `from` owns until `expires`: the `metrics`, the `facility_kinds`, or (neither)
        everything. A department's admin key grants what its own department owns only."""
        if caller.department is not None and body.from_department != caller.department:
            raise ApiProblem(403, "forbidden", "an admin key of a department grants what that department owns only")
        now_ms = int(time.time() * 1000)
        try:
            metrics, kinds = check_grant(
                state.index.city.departments,
                body.from_department,
                body.to_department,
                body.metrics,
                body.facility_kinds,
            )
            expires_ms = parse_expiry(body.expires, now_ms)
        except GrantError as exc:
            raise _problem(exc) from None
        grant = _store(state).add(
            body.from_department, body.to_department, expires_ms, metrics=metrics, facility_kinds=kinds, now_ms=now_ms
        )
        return JSONResponse(grant_item(grant, now_ms), status_code=201)

    @api.delete("/{grant_id}", response_model=GrantOut, responses=problem_responses(404, 422))
    async def revoke_grant(state: StateDep, caller: Admin, grant_id: _GrantId) -> JSONResponse:
        """Revoke a grant (revoking it again keeps the first time); the access checks stop honouring it at the
        next request. A department's admin key revokes grants of its own department's data only."""
        grants = _store(state)
        found = grants.get(grant_id)
        if found is None or not _sees(caller, found):
            raise not_found("grant", grant_id)
        if caller.department is not None and found.from_department != caller.department:
            raise ApiProblem(
                403, "forbidden", "an admin key of a department revokes grants of that department's data only"
            )
        grant = grants.revoke(grant_id)
        if grant is None:
            raise not_found("grant", grant_id)
        return JSONResponse(grant_item(grant, int(time.time() * 1000)))

    return api
