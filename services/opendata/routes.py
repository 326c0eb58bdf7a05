"""``/v1/catalogue`` (JSON-LD) and ``/v1/catalogue.ttl`` (Turtle): the DCAT-AP 3 catalogue of the open datasets,
public (no key; rate-limited like every request without one), with an ETag.

URLs in the catalogue are absolute under the base URL the request came in on (scheme, host and root path), so a
portal that harvests the API through a proxy gets links it can follow. The document changes only with that base
and the city's local date (temporal coverage ends today), so each is built once and kept.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.api.deps import CallerDep, StateDep
from services.api.pagination import conditional
from services.api.routes.common import CATALOGUE_ERRORS
from services.opendata.catalogue import JSON_LD, TURTLE, build_catalogue, to_jsonld, to_turtle
from services.opendata.urls import CATALOGUE_PATH, CATALOGUE_TURTLE_PATH, OpenDataUrls
from smartcity.city.model import City

KEPT_DOCUMENTS = 16
"""Built documents kept (per base URL, date and format); more and all are dropped and built again."""
_JSON_LD_SCHEMA = {"type": "object", "required": ["@context"], "properties": {"@graph": {"type": "array"}}}


def _answers(media_type: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {media_type: {"schema": schema}}, "description": "the catalogue"},
        304: {"description": "not modified"},
    }


def router() -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["catalogue"], responses=CATALOGUE_ERRORS)
    built: dict[tuple[str, date, str], bytes] = {}

    def document(request: Request, city: City, media_type: str) -> bytes:
        today = datetime.now(ZoneInfo(city.timezone)).date()
        key = (str(request.base_url), today, media_type)
        body = built.get(key)
        if body is None:
            graph = build_catalogue(city, OpenDataUrls.under(key[0]), today=today)
            body = to_jsonld(graph) if media_type == JSON_LD else to_turtle(graph)
            if len(built) >= KEPT_DOCUMENTS:
                built.clear()
            built[key] = body
        return body

    @api.get(CATALOGUE_PATH.removeprefix("/v1"), response_class=Response, responses=_answers(JSON_LD, _JSON_LD_SCHEMA))
    async def catalogue(request: Request, state: StateDep, caller: CallerDep) -> Response:
        """The DCAT-AP 3 catalogue of the open datasets as JSON-LD: each dataset with its title, description,
        publisher (a department), licence, themes, update frequency, spatial coverage (the city's extent and its
        districts), temporal coverage, privacy treatment (`dct:provenance`) and CSV, GeoJSON and SenML JSON
        distributions. No key needed. See docs/OPEN_DATA.md."""
        return conditional(request, document(request, state.index.city, JSON_LD), media_type=JSON_LD)

    @api.get(
        CATALOGUE_TURTLE_PATH.removeprefix("/v1"),
        response_class=Response,
        responses=_answers(TURTLE, {"type": "string"}),
    )
    async def catalogue_turtle(request: Request, state: StateDep, caller: CallerDep) -> Response:
        """The same catalogue as Turtle."""
        return conditional(request, document(request, state.index.city, TURTLE), media_type=TURTLE)

    return api
