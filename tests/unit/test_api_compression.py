"""gzip negotiation: large answers compressed for clients that accept gzip, small ones and refusing clients
served as they are; a kept answer is compressed once."""

from __future__ import annotations

import gzip

import pytest
from starlette.requests import Request

from services.api.answers import Answer
from services.api.compression import MIN_BYTES, accepts_gzip, respond


def _request(accept: str | None) -> Request:
    headers = [] if accept is None else [(b"accept-encoding", accept.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, GZIP;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, identity", False),
        ("gzip;q=bogus", False),
        ("deflate, br", False),
        ("identity", False),
        (None, False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_lists_it(accept: str | None, wanted: bool) -> None:
    assert accepts_gzip(_request(accept)) is wanted


def test_a_large_answer_goes_compressed_to_a_client_that_accepts_gzip() -> None:
    body = b'{"items":[' + b'{"value":1.5},' * 2_000 + b"{}]}"
    response = respond(_request("gzip"), body, "application/json")
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(response.body) == body
    plain = respond(_request("br"), body, "application/json")
    assert "content-encoding" not in plain.headers
    assert plain.body == body
    assert plain.headers["vary"] == "Accept-Encoding"


def test_a_small_answer_goes_as_it_is() -> None:
    body = b"x" * (MIN_BYTES - 1)
    response = respond(_request("gzip"), body, "text/csv")
    assert response.body == body
    assert "content-encoding" not in response.headers


def test_a_kept_answer_is_compressed_once() -> None:
    answer = Answer(b"y" * 50_000, 1)
    first = respond(_request("gzip"), answer.body, "application/json", answer.gzipped)
    assert answer.gzipped() is answer.gzipped()
    assert gzip.decompress(first.body) == answer.body
