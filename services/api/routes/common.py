"""Parameters and answers several catalogue routers share."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from fastapi.responses import Response

from services.api.pagination import conditional, dump, paginate, query_fingerprint
from services.api.problems import problem_responses

Ident = Annotated[str, Query(min_length=1, max_length=200, description="an id from the catalogue")]
Cursor = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the previous page (opaque)", examples=[None])
]
CATALOGUE_ERRORS = problem_responses(401, 404, 422, 429)
JSON = "application/json"
_Item = TypeVar("_Item")


def page(
    request: Request,
    items: Sequence[_Item],
    render: Callable[[_Item], dict[str, Any]],
    *,
    limit: int,
    cursor: str | None,
    city: str,
    filters: Mapping[str, object],
) -> Response:
    """A page of catalogue items with its next cursor, as a conditional (ETag) JSON answer. Only the page's
    items are rendered: a page of a 100,000-device city costs what a page of a small one does."""
    chosen, next_cursor = paginate(items, limit=limit, cursor=cursor, fingerprint=query_fingerprint(city, **filters))
    body = {"items": [render(item) for item in chosen], "next_cursor": next_cursor}
    return conditional(request, dump(body), media_type=JSON)


def single(request: Request, item: dict[str, Any]) -> Response:
    return conditional(request, dump(item), media_type=JSON)
