"""Every generation's ``/write`` answer, through InfluxClient.write: only 204 is stored, refusals are classified the
same way on 1.x, 2.x and 3.x (bodies as InfluxDB sends them; see smartcity/influx/write_answers.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from smartcity.influx.client import InfluxClient
from smartcity.influx.errors import (
    InfluxError,
    InfluxNotDurable,
    InfluxRejected,
    InfluxUnavailable,
    RefusedLine,
    RejectKind,
)
from smartcity.influx.write_answers import kind_of
from smartcity.settings import InfluxSettings

SETTINGS = InfluxSettings(url="http://influx.test:8086", database="city")
CONFLICT = (
    'field type conflict: input field "v" on measurement "m" is type string, already exists as type float dropped=1'
)


async def _write(response: httpx.Response) -> InfluxError:
    async with InfluxClient(SETTINGS, transport=httpx.MockTransport(lambda _request: response)) as client:
        with pytest.raises(InfluxError) as excinfo:
            await client.write(b'm v="x" 1')
    return excinfo.value


async def _rejected(status: int, body: dict[str, Any]) -> InfluxRejected:
    error = await _write(httpx.Response(status, json=body))
    assert isinstance(error, InfluxRejected), error
    assert error.status == status
    return error


# -- only 204 is stored ------------------------------------------------------------------------------------------
async def test_204_is_stored() -> None:
    async with InfluxClient(SETTINGS, transport=httpx.MockTransport(lambda _request: httpx.Response(204))) as client:
        await client.write(b"m v=1 1")


async def test_200_with_html_is_not_durable_and_says_what_answered() -> None:
    page = "<html><head><title>Welcome to nginx!</title></head><body>" + "x" * 5000 + "</body></html>"
    error = await _write(httpx.Response(200, text=page, headers={"Content-Type": "text/html; charset=utf-8"}))
    assert type(error) is InfluxNotDurable
    assert error.status == 200
    assert "answered 200 (text/html; charset=utf-8" in error.message
    assert "Welcome to nginx!" in error.message
    assert "not 204" in error.message
    assert len(error.message) < 600  # an excerpt of the body, not all of it


@pytest.mark.parametrize("status", [200, 201, 202, 206])
async def test_every_2xx_but_204_is_not_durable(status: int) -> None:
    error = await _write(httpx.Response(status))
    assert type(error) is InfluxNotDurable
    assert "no content type" in error.message


# -- InfluxDB 1.x: 400 {"error": ...}, valid points kept ---------------------------------------------------------
async def test_1x_field_type_conflict() -> None:
    error = await _rejected(400, {"error": f"partial write: {CONFLICT}"})
    assert (error.kind, error.dropped, error.partial, error.refused) == (RejectKind.FIELD_TYPE_CONFLICT, 1, True, ())
    assert error.message == f"partial write: {CONFLICT}"


async def test_1x_points_beyond_retention() -> None:
    error = await _rejected(400, {"error": "partial write: points beyond retention policy dropped=5"})
    assert (error.kind, error.dropped, error.partial) == (RejectKind.BEYOND_RETENTION, 5, True)


async def test_1x_unparsable_lines_among_stored_ones_are_named() -> None:
    text = (
        "partial write: unable to parse 'm v=': missing field value\n"
        "unable to parse 'bad line's: here x': invalid field format dropped=0"
    )
    error = await _rejected(400, {"error": text})
    assert (error.kind, error.partial, error.complete, error.dropped) == (RejectKind.PARSE_ERROR, True, True, 2)
    assert [line.text for line in error.refused] == ["m v=", "bad line's: here x"]
    assert error.refused[1].reason == "unable to parse 'bad line's: here x': invalid field format"


async def test_1x_nothing_parsable_stores_nothing() -> None:
    text = "unable to parse 'm v=': missing field value\nunable to parse 'q w e': invalid field format"
    error = await _rejected(400, {"error": text})
    assert (error.kind, error.partial) == (RejectKind.PARSE_ERROR, False)
    assert [line.text for line in error.refused] == ["m v=", "q w e"]


async def test_1x_series_limit_is_another_refusal() -> None:
    error = await _rejected(400, {"error": "partial write: max-series-per-database limit exceeded: (1000) dropped=7"})
    assert (error.kind, error.dropped, error.partial) == (RejectKind.OTHER, 7, True)


# -- InfluxDB 2.x: 422 for partial writes, 400 {"code": "invalid"} for parse errors -------------------------------
async def test_2x_field_type_conflict_is_422_and_never_retryable() -> None:
    message = f"failure writing points to database: partial write: {CONFLICT.replace('dropped=1', 'dropped=10')}"
    error = await _rejected(422, {"code": "unprocessable entity", "message": message})
    assert (error.kind, error.dropped, error.partial) == (RejectKind.FIELD_TYPE_CONFLICT, 10, True)
    assert error.message == message


async def test_2x_points_beyond_retention() -> None:
    message = "failure writing points to database: partial write: points beyond retention policy dropped=3"
    error = await _rejected(422, {"code": "unprocessable entity", "message": message})
    assert (error.kind, error.dropped, error.partial) == (RejectKind.BEYOND_RETENTION, 3, True)


async def test_2x_points_outside_retention_in_the_newer_wording() -> None:
    message = (
        "failure writing points to database: partial write: dropped 4 points outside retention policy of duration "
        "24h0m0s - oldest point home,room=dropped=9 at 1970-01-01T00:00:01.541Z dropped because it violates a "
        "Retention Policy Lower Bound at 2025-05-20T19:06:17.612973Z, newest point home,room=Kitchen at "
        "1970-01-01T00:00:01.5410006Z dropped because it violates a Retention Policy Lower Bound at "
        "2025-05-20T19:06:17.612973Z dropped=4 for database: 9f282d63c7d3a5c0 for retention policy: autogen"
    )
    error = await _rejected(422, {"code": "unprocessable entity", "message": message})
    assert (error.kind, error.dropped, error.partial) == (RejectKind.BEYOND_RETENTION, 4, True)


async def test_2x_parse_error_stores_nothing() -> None:
    error = await _rejected(400, {"code": "invalid", "message": "unable to parse 'm v=': missing field value"})
    assert (error.kind, error.partial) == (RejectKind.PARSE_ERROR, False)
    assert error.refused == (
        RefusedLine(text="m v=", reason="unable to parse 'm v=': missing field value", kind=RejectKind.PARSE_ERROR),
    )


async def test_2x_422_with_an_unknown_text_is_still_a_refusal() -> None:
    error = await _rejected(422, {"code": "unprocessable entity", "message": "something new"})
    assert (error.kind, error.dropped, error.partial) == (RejectKind.OTHER, None, True)


async def test_2_0_answered_500_for_points_beyond_retention() -> None:
    message = "unexpected error writing points to database: partial write: points beyond retention policy dropped=1"
    error = await _rejected(500, {"code": "internal error", "message": message})
    assert (error.kind, error.dropped) == (RejectKind.BEYOND_RETENTION, 1)


async def test_any_other_500_is_unavailable() -> None:
    error = await _write(httpx.Response(500, json={"code": "internal error", "message": "engine: cache full"}))
    assert type(error) is InfluxUnavailable


# -- InfluxDB 3.x: 400 {"error": "partial write of line protocol occurred", "data": [...]} ------------------------
def _v3_entry(number: int, message: str, line: str = "m v=x 1") -> dict[str, Any]:
    return {"original_line": line, "line_number": number, "error_message": message}


async def test_3x_partial_write_names_every_refused_line() -> None:
    data = [
        _v3_entry(2, "invalid column type for column 'v', expected iox::column_type::field::float, got ...::string"),
        _v3_entry(5, "No fields were provided", "m 5"),
        _v3_entry(7, "data in table m is outside of the retention period", "m v=1 7"),
    ]
    error = await _rejected(400, {"error": "partial write of line protocol occurred", "data": data})
    assert (error.kind, error.partial, error.complete, error.dropped) == (RejectKind.FIELD_TYPE_CONFLICT, True, True, 3)
    assert [(line.number, line.kind) for line in error.refused] == [
        (2, RejectKind.FIELD_TYPE_CONFLICT),
        (5, RejectKind.PARSE_ERROR),
        (7, RejectKind.BEYOND_RETENTION),
    ]
    assert error.refused[1].text == "m 5"


async def test_3x_list_of_100_may_be_cut() -> None:
    data = [_v3_entry(n, "No fields were provided") for n in range(1, 101)]
    error = await _rejected(400, {"error": "partial write of line protocol occurred", "data": data})
    assert (error.partial, error.complete, error.dropped, len(error.refused)) == (True, False, None, 100)


async def test_3x_without_partial_writes_stores_nothing() -> None:
    body = {"error": "parsing failed for write_lp endpoint", "data": _v3_entry(2, "Expected tag value, got ` 5`")}
    error = await _rejected(400, body)
    assert (error.kind, error.partial, error.complete) == (RejectKind.PARSE_ERROR, False, False)
    assert [line.number for line in error.refused] == [2]


async def test_3x_body_without_usable_data_is_classified_by_its_text() -> None:
    error = await _rejected(400, {"error": "write buffer error: parsing for line protocol failed", "data": None})
    assert error.kind is RejectKind.PARSE_ERROR
    assert error.refused == ()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("unable to parse 'retention x=1 1': invalid number", RejectKind.PARSE_ERROR),
        ("partial write: field type conflict: input field", RejectKind.FIELD_TYPE_CONFLICT),
        ("observed timestamp is outside of the retention period", RejectKind.BEYOND_RETENTION),
        ("Could not parse entire line. Found trailing content: `,y= 5`", RejectKind.PARSE_ERROR),
        ("max-values-per-tag limit exceeded", RejectKind.OTHER),
    ],
)
def test_kinds_by_text(text: str, kind: RejectKind) -> None:
    assert kind_of(text) is kind


async def test_non_json_400_keeps_the_text() -> None:
    error = await _write(httpx.Response(400, text="<html>400 Bad Request</html>"))
    assert isinstance(error, InfluxRejected)
    assert (error.kind, error.message) == (RejectKind.OTHER, "<html>400 Bad Request</html>")
