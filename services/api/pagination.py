"""Cursor pagination for the catalogue, and ETags for its answers.

A cursor is opaque to clients: base64url of ``{"o": offset, "q": fingerprint}``, where the fingerprint hashes the
city and the query's filters. The catalogue does not change while the process runs, so an offset into the filtered,
sorted list is stable; a cursor handed to a different query (other filters, another city) is refused with 422
rather than silently returning the wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response

from services.api.problems import invalid

_Item = TypeVar("_Item")


def query_fingerprint(city_fingerprint: str, **filters: object) -> str:
    text = json.dumps([city_fingerprint, sorted((k, str(v)) for k, v in filters.items() if v is not None)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "q": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, fingerprint: str) -> int:
    """The offset a cursor points at, or 422 naming the cursor parameter."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        offset, owner = data["o"], data["q"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise invalid("query.cursor", "not a cursor this API handed out") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or owner != fingerprint:
        raise invalid("query.cursor", "the cursor belongs to another query (other filters or another city)")
    return offset


def paginate(
    items: Sequence[_Item], *, limit: int, cursor: str | None, fingerprint: str
) -> tuple[Sequence[_Item], str | None]:
    """The page of ``items`` after ``cursor`` and the cursor of the next page (None on the last one)."""
    start = 0 if cursor is None else decode_cursor(cursor, fingerprint)
    page = items[start : start + limit]
    end = start + len(page)
    return page, (encode_cursor(end, fingerprint) if end < len(items) else None)


def conditional(request: Request, body: bytes, *, media_type: str) -> Response:
    """200 with an ETag (a hash of the body), or 304 when the client's If-None-Match already names it."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Vary": "Authorization", "Cache-Control": "no-cache"}
    presented = request.headers.get("if-none-match", "")
    tags = {tag.strip().removeprefix("W/") for tag in presented.split(",")}
    if etag in tags or "*" in tags:
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


def dump(payload: Any) -> bytes:
    """Compact JSON for catalogue bodies (the bytes the ETag hashes)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
