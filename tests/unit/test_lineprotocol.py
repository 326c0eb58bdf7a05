"""Line protocol: escaping per position, value formats, and the reading -> lines mapping."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcity.contract.metrics import METRICS
from smartcity.contract.reading import Reading, Value
from smartcity.influx import lineprotocol
from smartcity.influx.lineprotocol import (
    LineEncoder,
    LineProtocolError,
    encode_point,
    escape_key,
    escape_measurement,
    escape_tag_value,
    format_string,
    format_value,
)
from tests.support.contract import AIR, DIRECTORY, DISPLAY, LIGHT, NOW_MS, PROPERTY_SETTINGS, typed, valid_readings

AIR_TAGS = "device=aq-000123,device_type=air_quality,district=north,facility=school-0001,facility_kind=school"


def test_escaping_per_position() -> None:
    assert escape_measurement("a b,c=d") == r"a\ b\,c=d"
    assert escape_key("a b,c=d") == r"a\ b\,c\=d"
    assert escape_tag_value('a b,c=d"e') == r'a\ b\,c\=d"e'
    assert format_string('say "hi" \\ there, x=1') == r'"say \"hi\" \\ there, x=1"'
    assert format_string("ends with \\") == '"ends with \\\\"'


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: escape_tag_value("a\nb"), "line break"),
        (lambda: escape_tag_value("a\rb"), "line break"),
        (lambda: escape_tag_value("ends\\"), "backslash"),
        (lambda: escape_tag_value("a\\,b"), "backslash"),
        (lambda: escape_key("a\\ b"), "backslash"),
        (lambda: escape_measurement("m\\"), "backslash"),
        (lambda: escape_measurement("#comment"), "comment"),
        (lambda: escape_tag_value(""), "empty"),
        (lambda: escape_key("time"), "reserved"),
        (lambda: format_string("two\nlines"), "line break"),
        (lambda: format_value(float("nan")), "non-finite"),
        (lambda: format_value(float("-inf")), "non-finite"),
        (lambda: format_value(2**63), "64 bits"),
        (lambda: encode_point("m", {}, {}, 1), "at least one field"),
    ],
)
def test_what_line_protocol_cannot_carry_is_refused(call: object, message: str) -> None:
    with pytest.raises(LineProtocolError, match=message):
        call()  # type: ignore[operator]


def test_value_formats() -> None:
    assert format_value(True) == "true"
    assert format_value(False) == "false"
    assert format_value(-(2**63)) == "-9223372036854775808i"
    assert format_value(0.1) == "0.1"
    assert format_value(1e16) == "1e+16"
    assert format_value(5.0) == "5.0"  # stays a float field


def test_encode_point_sorts_tags_and_omits_empty_values() -> None:
    line = encode_point("air quality", {"z": "1", "a": "x y", "empty": ""}, {"v": 1.5, "n": 2, "ok": True}, 1000)
    assert line == r"air\ quality,a=x\ y,z=1 v=1.5,n=2i,ok=true 1000"


def test_line_encoder_splits_measurements_and_tags_from_the_directory() -> None:
    encoder = LineEncoder(DIRECTORY)
    reading = Reading(AIR, 42, NOW_MS, {"no2": 23.4, "battery": 99.5, "pm25": 8.0})
    assert encoder.encode(reading) == [
        f"air_quality,{AIR_TAGS} no2=23.4,pm25=8.0,seq=42i {NOW_MS}",
        f"device_vitals,{AIR_TAGS} battery=99.5,seq=42i {NOW_MS}",
    ]
    assert encoder.encode(reading) == encoder.encode(reading)  # cached prefixes give the same lines


def test_line_encoder_formats_every_kind() -> None:
    encoder = LineEncoder(DIRECTORY)
    light = encoder.encode(Reading(LIGHT, 1, 5, {"lamp_on": True, "dim_level": 40, "lamp_power": 35.0}))
    assert light == [
        "street_light,device=sl-000007,device_type=street_light,district=south,facility=street-0002,"
        "facility_kind=street_segment lamp_on=true,dim_level=40i,lamp_power=35.0,seq=1i 5"
    ]
    (display,) = encoder.encode(Reading(DISPLAY, 2, 6, {"message": 'a "b" \\c', "brightness": 10}))
    assert display.endswith(r' message="a \"b\" \\c",brightness=10i,seq=2i 6')


def test_grouped_readings_with_integers_in_two_measurements() -> None:
    values: dict[str, Value] = {
        "lamp_on": True,
        "dim_level": 40,
        "lamp_power": 35.0,
        "battery": 50.5,
        "report_interval": 60,
    }
    light_tags = (
        "device=sl-000007,device_type=street_light,district=south,facility=street-0002,facility_kind=street_segment"
    )
    assert LineEncoder(DIRECTORY).encode(Reading(LIGHT, 9, 5, values)) == [
        f"street_light,{light_tags} lamp_on=true,dim_level=40i,lamp_power=35.0,seq=9i 5",
        f"device_vitals,{light_tags} battery=50.5,report_interval=60i,seq=9i 5",
    ]
    assert values["dim_level"] == 40  # the reading itself is left alone


def test_a_reading_over_three_measurements(monkeypatch: pytest.MonkeyPatch) -> None:
    # No device type spans three measurements today; move battery to one of its own to get there.
    patched = dict(METRICS, battery=dataclasses.replace(METRICS["battery"], measurement="battery_level"))
    monkeypatch.setattr(lineprotocol, "METRICS", patched)
    monkeypatch.setattr(lineprotocol, "_PLANS", {})
    lines = LineEncoder(DIRECTORY).encode(Reading(AIR, 1, 5, {"no2": 1.5, "pm25": 2.0, "battery": 80.0, "rssi": -70.0}))
    assert lines == [
        f"air_quality,{AIR_TAGS} no2=1.5,pm25=2.0,seq=1i 5",
        f"battery_level,{AIR_TAGS} battery=80.0,seq=1i 5",
        f"device_vitals,{AIR_TAGS} rssi=-70.0,seq=1i 5",
    ]


def test_line_encoder_converts_integers_in_float_metrics() -> None:
    (line, _) = LineEncoder(DIRECTORY).encode(Reading(AIR, 1, 5, {"no2": 3, "battery": 7}))
    assert " no2=3.0,seq=1i " in line  # float field type stays float for ever


@pytest.mark.parametrize(
    ("reading", "message"),
    [
        (Reading("zz-1", 1, 1, {"no2": 1.0}), "not in the directory"),
        (Reading(AIR, 1, 1, {"nonsense": 1.0}), "not a registered metric"),
        (Reading(AIR, 1, 1, {"dim_level": 1}), "does not report into"),
        (Reading(AIR, 1, 1, {"lamp_power": 1.0}), "does not report into"),
        (Reading(AIR, 1, 1, {"no2": float("nan")}), "non-finite"),
        (Reading(AIR, 1, 1, {"no2": 1.0, "pm25": float("inf")}), "non-finite"),
    ],
)
def test_line_encoder_refuses_invalid_readings(reading: Reading, message: str) -> None:
    with pytest.raises(LineProtocolError, match=message):
        LineEncoder(DIRECTORY).encode(reading)


def _field_value(text: str) -> Value:
    if text in ("true", "false"):
        return text == "true"
    if text.endswith("i"):
        return int(text[:-1])
    return float(text)


@PROPERTY_SETTINGS
@given(reading=valid_readings().filter(lambda r: "message" not in r.values))
def test_every_valid_reading_encodes_to_lines_that_hold_its_values(reading: Reading) -> None:
    lines = LineEncoder(DIRECTORY).encode(reading)
    assert 1 <= len(lines) <= len(reading.values)
    decoded: dict[str, Value] = {}
    for line in lines:
        measurement_and_tags, fields, timestamp = line.split(" ")
        assert timestamp == str(reading.ts_ms)
        measurement = measurement_and_tags.split(",")[0]
        for pair in fields.split(","):
            key, text = pair.split("=")
            if key == "seq":
                assert text == f"{reading.seq}i"
                continue
            assert METRICS[key].measurement == measurement
            decoded[key] = _field_value(text)
    assert typed(Reading(reading.device_id, reading.seq, reading.ts_ms, decoded)) == typed(reading)


@PROPERTY_SETTINGS
@given(text=st.text(max_size=30))
def test_tag_escaping_is_total(text: str) -> None:
    try:
        escaped = escape_tag_value(text)
    except LineProtocolError:
        return
    # Outside escapes, no bare delimiter is left.
    unescaped = escaped.replace("\\,", "").replace("\\=", "").replace("\\ ", "")
    assert not {",", "=", " "} & set(unescaped)


def test_a_reading_without_a_sequence_number_writes_no_seq_field() -> None:
    reading = Reading(AIR, None, NOW_MS, {"no2": 23.4, "battery": 99.5})
    expected = [f"air_quality,{AIR_TAGS} no2=23.4 {NOW_MS}", f"device_vitals,{AIR_TAGS} battery=99.5 {NOW_MS}"]
    encoder = LineEncoder(DIRECTORY)
    assert encoder.encode(reading) == encoder.encode_parsed(reading) == expected
    message = Reading(DISPLAY, None, 6, {"message": "hi"})  # the general path (strings) too
    assert encoder.encode(message)[0].endswith(' message="hi" 6')
