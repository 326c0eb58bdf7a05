"""The JSON reading: encoding, strict decoding, the duplicate-key proof and round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from smartcity.contract.reading import Reading, RejectReason
from smartcity.contract.topics import TopicKind
from smartcity.contract.validate import Invalid
from smartcity.contract.wire import JsonReading, decode_reading_json, encode_reading_json
from tests.support.contract import AIR, DISPLAY, NOW_MS, PROPERTY_SETTINGS, parse, typed, valid_readings


def test_encoding_matches_the_documented_example() -> None:
    reading = Reading("aq-000123", 42, 1764390000123, {"no2": 23.4, "pm25": 8.1})
    assert encode_reading_json(reading) == (
        b'{"dev":"aq-000123","seq":42,"ts":1764390000123,"m":{"no2":23.4,"pm25":8.1}}'
    )


def test_encoding_refuses_non_finite_values() -> None:
    with pytest.raises(ValueError, match="'no2' is nan"):
        encode_reading_json(Reading(AIR, 1, NOW_MS, {"no2": float("nan")}))


def test_decoding_gives_the_typed_struct() -> None:
    decoded = decode_reading_json(b'{"dev":"a","seq":1,"ts":2,"m":{"x":1,"y":1.5,"z":true,"w":"s","v":null}}')
    assert decoded == JsonReading("a", 1, 2, {"x": 1, "y": 1.5, "z": True, "w": "s", "v": None})


@pytest.mark.parametrize(
    "payload",
    [
        b'{"dev":"a","dev":"a","seq":1,"ts":2,"m":{"x":1}}',
        b'{"dev":"a","seq":1,"ts":2,"m":{"x":1,"x":1}}',
        b'{"dev":"a","seq":1,"ts":2,"m":{"x":1},"m":{"x":1}}',
        # a colon inside a string makes the count inconclusive; the exact path still finds the repeat
        b'{"dev":"a:b","seq":1,"ts":2,"m":{"x":1,"x":"1:2"}}',
        # a repeat whose first occurrence is invalid: msgspec fails first, the exact path names the repeat
        b'{"dev":"a","seq":"one","seq":1,"ts":2,"m":{"x":1}}',
    ],
)
def test_duplicate_keys_are_refused(payload: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        decode_reading_json(payload)
    assert caught.value.reason is RejectReason.DUPLICATE_KEY


def test_colons_in_strings_without_duplicates_pass() -> None:
    assert decode_reading_json(b'{"dev":"a","seq":1,"ts":2,"m":{"msg":"a:b:c"}}').m == {"msg": "a:b:c"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", RejectReason.MALFORMED_JSON),
        (b"nul", RejectReason.MALFORMED_JSON),
        (b'{"dev":"\xc3\x28","seq":1,"ts":2,"m":{"x":1}}', RejectReason.MALFORMED_JSON),
        (b"[]", RejectReason.WRONG_SCHEMA),
        (b'{"dev":"a","seq":1,"ts":2,"m":{"x":{}}}', RejectReason.WRONG_SCHEMA),
    ],
)
def test_decoding_problems(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(Invalid) as caught:
        decode_reading_json(payload)
    assert caught.value.reason is reason


def test_lone_surrogates_in_names_are_reported_not_raised() -> None:
    payload = b'{"dev":"aq-000123","seq":1,"ts":1764390000123,"m":{"\\ud800":1}}'
    outcome = parse(payload)
    assert outcome.rejections[0].reason is RejectReason.UNKNOWN_METRIC
    assert "\\ud800" in outcome.rejections[0].detail
    outcome.rejections[0].detail.encode()  # the detail is valid UTF-8 (a dead letter carries it)


def test_nan_literal_is_non_finite_not_malformed() -> None:
    payload = b'{"dev":"aq-000123","seq":1,"ts":1764390000123,"m":{"no2":NaN,"pm25":-Infinity}}'
    assert parse(payload).rejections[0].reason is RejectReason.NON_FINITE


@PROPERTY_SETTINGS
@given(reading=valid_readings())
def test_round_trip(reading: Reading) -> None:
    payload = encode_reading_json(reading)
    assert json.loads(payload)["dev"] == reading.device_id
    outcome = parse(payload, reading.device_id, TopicKind.READING)
    assert outcome.rejections == []
    assert [typed(r) for r in outcome.readings] == [typed(reading)]


@PROPERTY_SETTINGS
@given(reading=valid_readings(device_id=DISPLAY))
def test_round_trip_of_strings(reading: Reading) -> None:
    outcome = parse(encode_reading_json(reading), DISPLAY)
    assert [typed(r) for r in outcome.readings] == [typed(reading)]


def test_the_json_reading_always_carries_a_seq() -> None:
    with pytest.raises(ValueError, match="needs a seq"):
        encode_reading_json(Reading(AIR, None, NOW_MS, {"no2": 1.0}))
