"""``/``, ``/page/...`` and ``/favicon.ico``: the city page, static files served as they are (no build step, no
network beyond the API itself, so it works offline), plus two small answers the page needs before it asks for data:

- ``/page/config.json``: which optional routes this API has (``/v1/quality`` is served only where the quality
  worker's route is installed), so the page does not ask for a route that is not there, and the stream's
  keep-alive interval (the page calls the stream stale after two of them without a byte);
- ``/page/whoami``: the role and district scope of the key sent (public without one), so the page asks only for
  what that role may read instead of collecting 401s and 403s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.applications import Starlette
from starlette.routing import Match

from services.api.deps import CallerDep

STATIC = Path(__file__).parent / "static"
PAGE_PREFIX = "/page"
OPTIONAL_ROUTES = {"quality": "/v1/quality"}
"""Routes the page uses when they exist, by the name ``config.json`` gives them."""

_NO_CACHE = {"Cache-Control": "no-cache"}


def serves(app: Starlette, path: str) -> bool:
    """True when a GET of ``path`` reaches a route of ``app`` (asked the way requests are routed: FastAPI keeps an
    included router as one entry, so the route list does not name its paths)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def router() -> APIRouter:
    page = APIRouter(include_in_schema=False)

    @page.get("/")
    async def index() -> FileResponse:
        """The city page."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=_NO_CACHE)

    @page.get("/favicon.ico")
    async def favicon() -> FileResponse:
        # Browsers ask for it whatever the page's <link rel="icon"> says; a 404 shows up as a console error.
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @page.get(f"{PAGE_PREFIX}/config.json")
    async def config(request: Request) -> JSONResponse:
        """Which optional routes this API serves."""
        routes = {name: serves(request.app, path) for name, path in OPTIONAL_ROUTES.items()}
        keepalive = request.app.state.api.settings.stream_keepalive_s
        return JSONResponse({"routes": routes, "stream_keepalive_s": keepalive}, headers=_NO_CACHE)

    @page.get(f"{PAGE_PREFIX}/whoami")
    async def whoami(caller: CallerDep) -> JSONResponse:
        """The caller's role and district scope (empty: the whole city)."""
        body: dict[str, Any] = {
            "role": caller.role.value,
            "districts": sorted(caller.districts),
            "department": caller.department,
        }
        return JSONResponse(body, headers=_NO_CACHE | {"Vary": "Authorization"})

    return page


def install(app: FastAPI) -> None:
    """Serve the page on ``app``: its routes, and its static files under ``/page``."""
    app.include_router(router())
    app.mount(f"{PAGE_PREFIX}/static", StaticFiles(directory=STATIC), name="citypage")
