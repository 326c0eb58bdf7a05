"""What routes depend on: the app's state, the caller (key, role, districts) and role checks.

``Annotated`` aliases keep route signatures short: ``state: StateDep``, ``caller: CallerDep``,
``caller: Annotated[Caller, Depends(require(Role.PLANNER))]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.access import DepartmentAccess
from services.api.answers import Answer, AnswerCache, RollupWatch
from services.api.audit import AuditTrail
from services.api.cache import HealthSnapshot, LatestCache, Refresher
from services.api.catalogue import CityIndex
from services.api.commands import CommandDesk
from services.api.keys import KeyRecord, Role, key_id_of, matches
from services.api.observability import ApiMetrics
from services.api.problems import ApiProblem, InvalidParam, not_found
from services.api.ratelimit import PublicLimiter, retry_after
from services.api.settings import ApiSettings
from services.api.state import KeyStore
from services.api.stream import StreamHub
from smartcity.influx.client import InfluxClient, Series

KEY_CACHE_S = 5.0
"""How long a looked-up key is trusted without asking the state database again (a revocation takes effect
within this time)."""


class KeyRing:
    """Key look-ups with a short cache in front of the :class:`KeyStore`."""

    def __init__(self, store: KeyStore, *, ttl_s: float = KEY_CACHE_S, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, tuple[KeyRecord, str] | None]] = {}

    def check(self, key: str) -> KeyRecord | None:
        """The active record of a presented key; None for a malformed, unknown, revoked or wrong key."""
        key_id = key_id_of(key)
        if key_id is None:
            return None
        now = self._clock()
        cached = self._cache.get(key_id)
        if cached is None or now - cached[0] > self._ttl_s:
            if len(self._cache) > 10_000:
                self._cache.clear()
            cached = (now, self.store.find(key_id))
            self._cache[key_id] = cached
        found = cached[1]
        if found is None or not matches(key, found[1]) or not found[0].active:
            return None
        return found[0]

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)


@dataclass
class ApiState:
    """Everything the lifespan opened, handed to routes through :data:`StateDep`."""

    settings: ApiSettings
    index: CityIndex
    influx: InfluxClient
    keys: KeyRing
    latest: LatestCache
    health: HealthSnapshot
    limiter: PublicLimiter
    metrics: ApiMetrics
    refresher: Refresher
    commands: CommandDesk
    stream: StreamHub
    access: DepartmentAccess
    audit: AuditTrail
    rollups: RollupWatch
    answers: AnswerCache[Answer]
    """Encoded answers wholly from closed roll-up windows."""
    closed: AnswerCache[list[Series]]
    """The roll-up part of history answers that also read raw points."""


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


StateDep = Annotated[ApiState, Depends(_state)]


@dataclass(frozen=True, slots=True)
class Caller:
    role: Role
    districts: frozenset[str] = frozenset()
    """Empty: the whole city."""
    key_id: str | None = None
    department: str | None = None
    """None: the city's own key (no department), which reads every department's data (:mod:`services.api.access`)."""

    def sees(self, district_id: str) -> bool:
        return not self.districts or district_id in self.districts

    def check_district(self, district_id: str) -> None:
        """404 for a district outside the caller's scope (it looks like an unknown one)."""
        if not self.sees(district_id):
            raise not_found("district", district_id)


PUBLIC = Caller(Role.PUBLIC)
_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer sck_...`")


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="smartcity"'})


def _throttle(request: Request, state: ApiState) -> None:
    wait = state.limiter.take(request.client.host if request.client else "unknown")
    if wait > 0:
        raise ApiProblem(
            429,
            "rate-limited",
            f"too many requests without a key: at most {state.settings.public_rate_per_s:g} per second",
            headers={"Retry-After": retry_after(wait)},
        )


async def _caller(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None:
        if "authorization" in request.headers:
            _throttle(request, state)
            raise _unauthorized("the Authorization header must be 'Bearer <API key>'")
        _throttle(request, state)
        return PUBLIC
    record = state.keys.check(credentials.credentials)
    if record is None:
        _throttle(request, state)  # guessing keys costs the same as any request without one
        raise _unauthorized("the API key is unknown, revoked or malformed")
    return Caller(record.role, frozenset(record.districts), record.key_id, record.department)


CallerDep = Annotated[Caller, Depends(_caller)]


def _query_names(dependant: Dependant) -> Iterator[str]:
    yield from (param.alias for param in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def _known_query(route: APIRoute) -> frozenset[str]:
    # A walk over a handful of dependencies: microseconds, so not cached (routes are not hashable).
    return frozenset(_query_names(route.dependant))


async def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not take: ``?districts=north`` is a typo that would otherwise
    silently answer for the whole city."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known_query(route)
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ApiProblem(
            422,
            "invalid-parameters",
            f"unknown query parameter {unknown[0][:80]!r} (this route takes: {allowed})",
            invalid_params=[
                InvalidParam(name=f"query.{name[:80]}", reason="not a parameter of this route") for name in unknown[:20]
            ],
        )


def require(role: Role) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """A dependency that lets ``role`` and the roles above it through: 401 without a key, 403 below it."""

    async def check(caller: CallerDep) -> Caller:
        if caller.role.may(role):
            return caller
        if caller.role is Role.PUBLIC:
            raise _unauthorized(f"this needs an API key with the {role.value} role or higher")
        raise ApiProblem(403, "forbidden", f"the {caller.role.value} role may not do this: it needs {role.value}")

    return check


Planner = Annotated[Caller, Depends(require(Role.PLANNER))]
Operator = Annotated[Caller, Depends(require(Role.OPERATOR))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
