"""gzip for large answers, compressed once where the answer is kept.

A district's latest values are about 1 MB of JSON and a week of minutes half that; gzip makes them 8 to 12 times
smaller for about 2 ms of CPU per megabyte. Answers that are kept (:class:`services.api.answers.Answer`, the latest
answers) are compressed once and sent compressed to every client that accepts it; answers built per request are
compressed at the fastest level. Small answers go as they are. Starlette's ``GZipMiddleware`` would compress every
response again on every request.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response

MIN_BYTES = 4_096
"""Answers below this go uncompressed (gzip's header and a round of deflate cost more than they save)."""
KEPT_LEVEL = 5
"""For an answer compressed once and sent many times."""
FAST_LEVEL = 1
"""For an answer compressed for one request."""


def gzip_bytes(body: bytes, level: int) -> bytes:
    """``body`` as a gzip member (fixed header, no file name or time: the same body gives the same bytes)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(body) + compressor.flush()


def accepts_gzip(request: Request) -> bool:
    """The client lists ``gzip`` (or ``*``) in ``Accept-Encoding`` without ``q=0``."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = params.strip().lower().removeprefix("q=")
            return not params.strip() or _positive(quality)
    return False


def _positive(quality: str) -> bool:
    try:
        return float(quality) > 0
    except ValueError:
        return False


def respond(request: Request, body: bytes, media_type: str, gzipped: Callable[[], bytes] | None = None) -> Response:
    """``body``, or its gzip form when large and the client accepts it (``gzipped`` gives it for a kept answer;
    else it is compressed now, at the fastest level)."""
    if len(body) < MIN_BYTES:
        return Response(body, media_type=media_type)
    headers = {"Vary": "Accept-Encoding"}
    if not accepts_gzip(request):
        return Response(body, media_type=media_type, headers=headers)
    content = gzipped() if gzipped is not None else gzip_bytes(body, FAST_LEVEL)
    return Response(content, media_type=media_type, headers=headers | {"Content-Encoding": "gzip"})
