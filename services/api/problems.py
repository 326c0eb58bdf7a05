"""RFC 9457 problem details: the one shape of every error the API returns (``application/problem+json``).

:class:`ApiProblem` is what routes and dependencies raise; :func:`install_problem_handlers` turns it, FastAPI's own
validation errors, Starlette's 404/405, an unreachable InfluxDB (503 with Retry-After) and anything unexpected
(500, logged with its traceback here, never sent) into problem documents. ``type`` is a relative URI naming the
problem (``/problems/unknown-id``), documented in docs/API.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from smartcity.influx.errors import InfluxError, InfluxUnavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    422: "Invalid parameters",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class InvalidParam(BaseModel):
    """One rejected parameter (RFC 9457 section 3 example extension ``invalid_params``)."""

    name: str = Field(description="where the parameter is and its name, e.g. query.limit")
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    type: str = Field(description="relative URI naming the kind of problem", examples=["/problems/unknown-id"])
    title: str = Field(description="short summary of the kind of problem", examples=["Not found"])
    status: int = Field(description="the HTTP status code", examples=[404])
    detail: str = Field(description="what went wrong with this request", examples=["device 'x-1' not found"])
    instance: str = Field(description="the path of the request", examples=["/v1/devices/x-1"])
    invalid_params: list[InvalidParam] | None = Field(default=None, description="422: every rejected parameter")


class ApiProblem(Exception):
    """Raised by routes and dependencies; becomes a problem document with ``status``."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        invalid_params: Sequence[InvalidParam] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.invalid_params = list(invalid_params)


def not_found(what: str, ident: str) -> ApiProblem:
    """404 for an id that does not exist or lies outside the caller's districts (the two look the same)."""
    return ApiProblem(404, "unknown-id", f"{what} {ident[:80]!r} not found")


def invalid(name: str, reason: str) -> ApiProblem:
    """422 for one bad parameter (``name`` as ``query.start``)."""
    return ApiProblem(
        422, "invalid-parameters", f"{name}: {reason}", invalid_params=[InvalidParam(name=name, reason=reason)]
    )


def problem_response(
    request: Request,
    status: int,
    kind: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    invalid_params: Sequence[InvalidParam] = (),
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{kind}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if invalid_params:
        body["invalid_params"] = [param.model_dump() for param in invalid_params]
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def _location(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(
        request, exc.status, exc.kind, exc.detail, headers=exc.headers, invalid_params=exc.invalid_params
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    params = [InvalidParam(name=_location(error["loc"]), reason=str(error["msg"])) for error in exc.errors()]
    detail = "; ".join(f"{param.name}: {param.reason}" for param in params) or "invalid request"
    return problem_response(request, 422, "invalid-parameters", detail, invalid_params=params)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kinds = {400: "bad-request", 404: "no-such-route", 405: "method-not-allowed"}
    detail = exc.detail if exc.status_code not in kinds else f"{request.method} {request.url.path}: {exc.detail}"
    return problem_response(
        request, exc.status_code, kinds.get(exc.status_code, "http-error"), str(detail), headers=exc.headers
    )


def _influx_handler(retry_after_s: int) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InfluxError)
        if isinstance(exc, InfluxUnavailable):
            log.warning("%s %s: InfluxDB unavailable: %s", request.method, request.url.path, exc)
            return problem_response(
                request,
                503,
                "store-unavailable",
                "the time-series store is unreachable; try again later",
                headers={"Retry-After": str(retry_after_s)},
            )
        log.error("%s %s: InfluxDB error: %s", request.method, request.url.path, exc)
        return problem_response(request, 500, "internal", "the time-series store answered with an error")

    return handler


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "internal", "an internal error occurred; it has been logged")


def install_problem_handlers(app: FastAPI, *, retry_after_s: int) -> None:
    """Every error leaves as a problem document; tracebacks stay in the log."""
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(InfluxError, _influx_handler(retry_after_s))
    app.add_exception_handler(Exception, _unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer."""
    return {
        status: {
            "model": Problem,
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
