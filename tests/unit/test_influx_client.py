"""InfluxClient without a server: request shape, auth, and the mapping of every answer and transport failure."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from smartcity.influx.client import InfluxClient, Series, quote_identifier
from smartcity.influx.errors import (
    InfluxAuthError,
    InfluxError,
    InfluxQueryError,
    InfluxRejected,
    InfluxTooLarge,
    InfluxUnavailable,
)
from smartcity.settings import InfluxSettings

Handler = Callable[[httpx.Request], httpx.Response]
SETTINGS = InfluxSettings(url="http://influx.test:8086", database="city")


def _client(handler: Handler, settings: InfluxSettings = SETTINGS) -> InfluxClient:
    return InfluxClient(settings, transport=httpx.MockTransport(handler))


def _recorder(response: httpx.Response) -> tuple[list[httpx.Request], Handler]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response

    return seen, handler


def _form(request: httpx.Request) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


# -- requests ----------------------------------------------------------------------------------------------------
async def test_write_posts_line_protocol_with_database_and_precision() -> None:
    seen, handler = _recorder(httpx.Response(204))
    settings = SETTINGS.model_copy(update={"retention_policy": "week"})
    async with _client(handler, settings) as client:
        await client.write(b"m,k=v f=1 1700000000000\n")
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/write"
    assert dict(request.url.params) == {"db": "city", "precision": "ms", "rp": "week"}
    assert request.content == b"m,k=v f=1 1700000000000\n"


async def test_empty_write_sends_nothing() -> None:
    seen, handler = _recorder(httpx.Response(204))
    async with _client(handler) as client:
        await client.write(b"")
    assert seen == []


async def test_bad_precision_is_refused_before_sending() -> None:
    seen, handler = _recorder(httpx.Response(204))
    async with _client(handler) as client:
        with pytest.raises(ValueError, match="precision must be one of"):
            await client.write(b"m f=1", precision="seconds")
        with pytest.raises(ValueError, match="epoch must be one of"):
            await client.query("SHOW DATABASES", epoch="days")
    assert seen == []


async def test_read_query_is_a_get_with_json_bind_parameters() -> None:
    answer = {
        "results": [
            {
                "statement_id": 0,
                "series": [
                    {"name": "air", "tags": {"district": "north"}, "columns": ["time", "no2"], "values": [[1, 2.5]]}
                ],
            }
        ]
    }
    seen, handler = _recorder(httpx.Response(200, json=answer))
    async with _client(handler) as client:
        series = await client.query(
            'SELECT "no2" FROM "air" WHERE "district" = $d AND "no2" > $min GROUP BY "district"',
            {"d": "north' OR 1=1", "min": 1.5},
        )
    (request,) = seen
    assert request.method == "GET"
    params = dict(request.url.params)
    assert params["db"] == "city"
    assert params["epoch"] == "ms"
    assert json.loads(params["params"]) == {"d": "north' OR 1=1", "min": 1.5}
    assert "north" not in params["q"]  # the value travels only as a bind parameter
    assert series == [Series(name="air", tags={"district": "north"}, columns=["time", "no2"], values=[[1, 2.5]])]
    assert series[0].records() == [{"time": 1, "no2": 2.5}]


@pytest.mark.parametrize(
    "statement",
    ['CREATE DATABASE "x"', 'DROP MEASUREMENT "m"', 'SELECT * INTO "b" FROM "a"', "SHOW DATABASES; DROP DATABASE x"],
)
async def test_statements_that_change_things_are_posted(statement: str) -> None:
    seen, handler = _recorder(httpx.Response(200, json={"results": [{"statement_id": 0}]}))
    async with _client(handler) as client:
        assert await client.query(statement) == []
    (request,) = seen
    assert request.method == "POST"
    assert _form(request)["q"] == statement


async def test_create_and_drop_quote_the_database_name() -> None:
    seen, handler = _recorder(httpx.Response(200, json={"results": [{"statement_id": 0}]}))
    async with _client(handler, SETTINGS.model_copy(update={"database": "my-city"})) as client:
        await client.create_database()
        await client.drop_database()
    assert [_form(request)["q"] for request in seen] == ['CREATE DATABASE "my-city"', 'DROP DATABASE "my-city"']


def test_quote_identifier_escapes_quotes_and_backslashes() -> None:
    assert quote_identifier('a"b\\c') == '"a\\"b\\\\c"'


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
async def test_non_finite_bind_parameters_are_refused(bad: float) -> None:
    seen, handler = _recorder(httpx.Response(200, json={"results": []}))
    async with _client(handler) as client:
        with pytest.raises(ValueError, match="non-finite"):
            await client.query("SELECT * FROM m WHERE v > $v", {"v": bad})
    assert seen == []


# -- authentication ----------------------------------------------------------------------------------------------
async def test_token_auth_header() -> None:
    seen, handler = _recorder(httpx.Response(204))
    settings = SETTINGS.model_copy(update={"token": SecretStr("t0k"), "username": "ignored"})
    async with _client(handler, settings) as client:
        await client.write(b"m f=1")
    assert seen[0].headers["Authorization"] == "Token t0k"


async def test_basic_auth_header() -> None:
    seen, handler = _recorder(httpx.Response(204))
    settings = SETTINGS.model_copy(update={"username": "gw", "password": SecretStr("pw")})
    async with _client(handler, settings) as client:
        await client.write(b"m f=1")
    assert seen[0].headers["Authorization"] == "Basic " + base64.b64encode(b"gw:pw").decode()


async def test_no_credentials_no_header() -> None:
    seen, handler = _recorder(httpx.Response(204))
    async with _client(handler) as client:
        await client.write(b"m f=1")
    assert "Authorization" not in seen[0].headers


# -- answers -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InfluxRejected),
        (401, InfluxAuthError),
        (403, InfluxAuthError),
        (404, InfluxUnavailable),
        (413, InfluxTooLarge),
        (429, InfluxUnavailable),
        (500, InfluxUnavailable),
        (503, InfluxUnavailable),
        (418, InfluxError),
    ],
)
async def test_write_status_mapping(status: int, expected: type[InfluxError]) -> None:
    _, handler = _recorder(httpx.Response(status, json={"error": "the server's words"}))
    async with _client(handler) as client:
        with pytest.raises(expected, match="the server's words") as excinfo:
            await client.write(b"m f=1")
    assert type(excinfo.value) is expected
    assert excinfo.value.status == status


async def test_partial_write_keeps_influxdbs_text() -> None:
    text = (
        'partial write: field type conflict: input field "v" on measurement "m" is type string, '
        "already exists as type float dropped=1"
    )
    _, handler = _recorder(httpx.Response(400, json={"error": text}))
    async with _client(handler) as client:
        with pytest.raises(InfluxRejected) as excinfo:
            await client.write(b'm v="x"')
    assert excinfo.value.message == text


async def test_retry_after_is_read_and_non_json_bodies_are_kept() -> None:
    _, handler = _recorder(httpx.Response(503, headers={"Retry-After": "7"}, text="<html>maintenance</html>"))
    async with _client(handler) as client:
        with pytest.raises(InfluxUnavailable, match="maintenance") as excinfo:
            await client.write(b"m f=1")
    assert excinfo.value.retry_after_s == 7.0


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (httpx.ConnectError("refused"), InfluxUnavailable),
        (httpx.ReadTimeout("slow"), InfluxUnavailable),
        (httpx.ConnectTimeout("slow"), InfluxUnavailable),
        (httpx.WriteTimeout("slow"), InfluxUnavailable),
        (httpx.PoolTimeout("busy"), InfluxUnavailable),
        (httpx.ReadError("reset"), InfluxUnavailable),
        (httpx.RemoteProtocolError("server hung up"), InfluxUnavailable),
        (httpx.UnsupportedProtocol("ftp://"), InfluxError),
    ],
)
async def test_transport_failures_are_mapped(exception: Exception, expected: type[InfluxError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    async with _client(handler) as client:
        with pytest.raises(expected) as excinfo:
            await client.write(b"m f=1")
    assert type(excinfo.value) is expected
    assert excinfo.value.status is None
    assert excinfo.value.__cause__ is exception


async def test_statement_error_inside_200_is_a_query_error() -> None:
    answer = {"results": [{"statement_id": 0, "series": []}, {"statement_id": 1, "error": "database not found: x"}]}
    _, handler = _recorder(httpx.Response(200, json=answer))
    async with _client(handler) as client:
        with pytest.raises(InfluxQueryError, match="database not found: x"):
            await client.query("SHOW MEASUREMENTS")


async def test_unparsable_query_answer_is_an_influx_error() -> None:
    _, handler = _recorder(httpx.Response(200, text="not json"))
    async with _client(handler) as client:
        with pytest.raises(InfluxError, match="unexpected query answer"):
            await client.query("SHOW DATABASES")


@pytest.mark.parametrize(("status", "up"), [(204, True), (503, False)])
async def test_ping(status: int, up: bool) -> None:
    seen, handler = _recorder(httpx.Response(status))
    async with _client(handler) as client:
        assert await client.ping() is up
    assert seen[0].url.path == "/ping"


async def test_ping_is_false_when_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with _client(handler) as client:
        assert await client.ping() is False
