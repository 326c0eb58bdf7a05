"""The public rate limiter and catalogue pagination (cursors, ETags) on their own."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from services.api.pagination import conditional, decode_cursor, encode_cursor, paginate, query_fingerprint
from services.api.problems import ApiProblem
from services.api.ratelimit import RateLimiter, retry_after


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # clients have their own buckets
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    assert retry_after(0.2) == "1"
    assert retry_after(2.1) == "3"


def test_cursors_walk_a_list_and_belong_to_their_query() -> None:
    items = list(range(7))
    mine = query_fingerprint("city", kind="school")
    page, cursor = paginate(items, limit=3, cursor=None, fingerprint=mine)
    assert (list(page), decode_cursor(cursor or "", mine)) == ([0, 1, 2], 3)
    page, cursor = paginate(items, limit=3, cursor=cursor, fingerprint=mine)
    page, last = paginate(items, limit=3, cursor=cursor, fingerprint=mine)
    assert (list(page), last) == ([6], None)
    other = query_fingerprint("city", kind="park")
    for bad in (encode_cursor(3, other), "!!", "e30", encode_cursor(-1, mine)):
        with pytest.raises(ApiProblem) as refused:
            decode_cursor(bad, mine)
        assert refused.value.invalid_params[0].name == "query.cursor"


def _request(if_none_match: str | None) -> Request:
    headers = [(b"if-none-match", if_none_match.encode())] if if_none_match else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


def test_etag_answers_304_for_a_matching_if_none_match() -> None:
    first = conditional(_request(None), b'{"a":1}', media_type="application/json")
    etag = first.headers["etag"]
    assert first.status_code == 200
    assert conditional(_request(etag), b'{"a":1}', media_type="application/json").status_code == 304
    assert conditional(_request(f'"x", W/{etag}'), b'{"a":1}', media_type="application/json").status_code == 304
    assert conditional(_request(etag), b'{"a":2}', media_type="application/json").status_code == 200
