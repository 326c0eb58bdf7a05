"""parse_message: one exact rejection reason per rule, per-reading granularity in packs, and hostile input."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcity.contract import parse as parse_module
from smartcity.contract.messages import Birth, DeviceState, Status
from smartcity.contract.parse import ParseLimits, parse_birth, parse_message, parse_status
from smartcity.contract.reading import ParseOutcome, Reading, Rejection, RejectReason
from smartcity.contract.topics import TopicKind
from tests.support.contract import (
    AIR,
    DIRECTORY,
    DISPLAY,
    DOCUMENTED_REASONS,
    LIGHT,
    NOW_MS,
    OCCUPANCY,
    PARKING,
    PROPERTY_SETTINGS,
    SCHEME,
    only_rejection,
    parse,
    topic,
    typed,
)

R = RejectReason
SENML, CBOR = TopicKind.SENML, TopicKind.SENML_CBOR


def reading_json(**fields: Any) -> bytes:
    document: dict[str, Any] = {"dev": AIR, "seq": 42, "ts": NOW_MS, "m": {"no2": 23.4, "pm25": 8.1}}
    document.update(fields)
    return json.dumps(document).encode()


def test_valid_json_reading() -> None:
    outcome = parse(reading_json(m={"no2": 23.4, "pm25": 8, "battery": 99.5}))
    assert outcome.rejections == []
    assert outcome.readings == [Reading(AIR, 42, NOW_MS, {"no2": 23.4, "pm25": 8.0, "battery": 99.5})]
    assert type(outcome.readings[0].values["pm25"]) is float  # a JSON integer for a float metric is stored as float


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (reading_json(m={"no2": 2500.0}), R.OUT_OF_RANGE, "m.no2: 2500.0 above maximum 2000"),
        (reading_json(m={"no2": -1}), R.OUT_OF_RANGE, "m.no2: -1 below minimum 0"),
        (reading_json(m={"rssi": 5.5}), R.OUT_OF_RANGE, "m.rssi: 5.5 above maximum 0"),
        (reading_json(m={"co2": 400.0}), R.UNKNOWN_METRIC, "m.co2: not reported by device type air_quality"),
        (reading_json(m={"nonsense": 1}), R.UNKNOWN_METRIC, "m.nonsense: not a metric"),
        (reading_json(m={"no2": "23.4"}), R.WRONG_TYPE, "m.no2: expected a number, got string '23.4'"),
        (reading_json(m={"no2": True}), R.WRONG_TYPE, "m.no2: expected a number, got boolean true"),
        (reading_json(m={"no2": None}), R.WRONG_TYPE, "m.no2: expected a number, got null"),
        (reading_json(dev="aq-000124"), R.TOPIC_MISMATCH, "dev 'aq-000124' differs from the topic's device"),
        (reading_json(m={}), R.WRONG_SCHEMA, "Expected `object` of length >= 1 - at `$.m`"),
        (reading_json(extra=1), R.WRONG_SCHEMA, "Object contains unknown field `extra`"),
        (reading_json(seq=-1), R.WRONG_SCHEMA, "Expected `int` >= 0 - at `$.seq`"),
        (reading_json(seq=2**63), R.WRONG_SCHEMA, "Expected `int` <= 9223372036854775807 - at `$.seq`"),
        (reading_json(ts=float(NOW_MS)), R.WRONG_SCHEMA, "Expected `int`, got `float` - at `$.ts`"),
        (reading_json(m={"no2": [1]}), R.WRONG_SCHEMA, "got `array` - at `$.m[...]`"),
        (b"[1, 2]", R.WRONG_SCHEMA, "Expected `object`, got `array`"),
        (b'{"dev": "aq-000123", "seq": 1, "ts": 1}', R.WRONG_SCHEMA, "missing required field `m`"),
        (b'{"dev": "aq-000123"', R.MALFORMED_JSON, ""),
        (b"\xff\xfe{}", R.MALFORMED_JSON, "not UTF-8: invalid start byte at byte 0"),
        (b"[" * 50_000, R.MALFORMED_JSON, "nested too deeply"),
        (b"", R.MALFORMED_JSON, ""),
        (b'{"dev": "aq-000123", "dev": "aq-000123", "seq": 1, "ts": 1, "m": {"no2": 1}}', R.DUPLICATE_KEY, "'dev'"),
        (b'{"dev": "aq-000123", "seq": 1, "ts": 1, "m": {"no2": 1, "no2": 2}}', R.DUPLICATE_KEY, "'no2'"),
        (reading_json(m={"no2": float("nan")}), R.NON_FINITE, "m.no2: nan is not a finite number"),
        (reading_json(m={"no2": float("inf")}), R.NON_FINITE, "m.no2: inf is not a finite number"),
        (reading_json(m={"pm25": float("-inf")}), R.NON_FINITE, "m.pm25: -inf is not a finite number"),
        (reading_json(m={"no2": 1.0}).replace(b"1.0", b"1e999"), R.NON_FINITE, "m.no2: inf is not a finite number"),
        (reading_json(ts=NOW_MS + 300_001), R.TIMESTAMP_FUTURE, "ahead of the gateway clock"),
        (reading_json(ts=NOW_MS - 31 * 86_400_000 - 1), R.TIMESTAMP_PAST, "in the past"),
        (reading_json(ts=10**40), R.TIMESTAMP_FUTURE, "ahead of the gateway clock"),
        (reading_json(m={"no2": 10**400}), R.OUT_OF_RANGE, "m.no2: <1329-bit integer> above maximum 2000"),
    ],
)
def test_json_rejections(payload: bytes, reason: RejectReason, detail: str) -> None:
    outcome = parse(payload)
    assert only_rejection(outcome)[0] == reason
    assert detail in outcome.rejections[0].detail
    assert outcome.rejections[0].device_id == AIR


@pytest.mark.parametrize(
    ("device_id", "values", "reason", "detail"),
    [
        (OCCUPANCY, {"occupancy": 3.0}, R.WRONG_TYPE, "m.occupancy: expected an integer, got number 3.0"),
        (OCCUPANCY, {"occupancy": True}, R.WRONG_TYPE, "m.occupancy: expected an integer, got boolean true"),
        (OCCUPANCY, {"occupancy": 100_001}, R.OUT_OF_RANGE, "m.occupancy: 100001 above maximum 100000"),
        (PARKING, {"occupied": 1}, R.WRONG_TYPE, "m.occupied: expected true or false, got number 1"),
        (DISPLAY, {"message": 5}, R.WRONG_TYPE, "m.message: expected a string, got number 5"),
        (DISPLAY, {"message": "x" * 257}, R.OUT_OF_RANGE, "m.message: 257 characters, longer than 256"),
        (DISPLAY, {"message": "line\nbreak"}, R.WRONG_TYPE, "m.message: forbidden character '\\n' at position 4"),
        (DISPLAY, {"message": "nul\x00"}, R.WRONG_TYPE, "m.message: forbidden character '\\x00' at position 3"),
        (DISPLAY, {"message": "lone \ud800"}, R.WRONG_TYPE, "m.message: forbidden character '\\ud800' at position 5"),
    ],
)
def test_json_rejections_by_kind(device_id: str, values: dict[str, Any], reason: RejectReason, detail: str) -> None:
    outcome = parse(reading_json(dev=device_id, m=values), device_id)
    assert only_rejection(outcome) == (reason, detail)


@pytest.mark.parametrize(
    ("device_id", "values"),
    [
        (OCCUPANCY, {"occupancy": 12, "battery": 50}),
        (PARKING, {"occupied": False}),
        (DISPLAY, {"message": 'Bus 42: "delayed", \\ 5 min, caf\u00e9', "brightness": 80}),
        (LIGHT, {"lamp_on": True, "dim_level": 40, "lamp_power": 35.5}),
    ],
)
def test_valid_readings_of_every_kind(device_id: str, values: dict[str, Any]) -> None:
    outcome = parse(reading_json(dev=device_id, m=values), device_id)
    assert outcome.rejections == []
    assert outcome.readings[0].values == values


def test_colons_inside_strings_take_the_exact_path_and_still_pass() -> None:
    values = {"message": "12:30 closed: back at 13:00"}
    outcome = parse(reading_json(dev=DISPLAY, m=values), DISPLAY)
    assert outcome.readings[0].values == values


def test_whole_message_checks() -> None:
    assert only_rejection(parse(b"{}", raw_topic="city/v1/dev/aq-000123"))[0] == R.BAD_TOPIC
    assert parse(b"{}", raw_topic="elsewhere/v1/dev/aq-000123/reading").rejections[0].device_id is None
    assert only_rejection(parse(b"{}", raw_topic="city/v1/dev/AQ_1/reading"))[0] == R.BAD_TOPIC
    assert only_rejection(parse(b"{}", raw_topic="city/v1/dev/aq-000123/nope"))[0] == R.BAD_TOPIC
    assert only_rejection(parse(reading_json(dev="zz-1"), "zz-1")) == (
        R.UNKNOWN_DEVICE,
        "device zz-1 is not in the registry",
    )
    assert only_rejection(parse(b"{}", kind=TopicKind.STATUS)) == (R.WRONG_SCHEMA, "status messages are not telemetry")
    limits = ParseLimits(max_payload_bytes=10)
    assert only_rejection(parse(reading_json(), limits=limits)) == (
        R.OVERSIZED,
        f"payload of {len(reading_json())} bytes exceeds the limit of 10",
    )
    # The size check comes before decoding: a huge garbage payload is not even looked at.
    assert only_rejection(parse(b"\xff" * 70_000, kind=CBOR))[0] == R.OVERSIZED


# ---------------------------------------------------------------------------------------------------- SenML
def senml(*records: dict[str, Any]) -> bytes:
    return json.dumps(list(records)).encode()


BT = NOW_MS / 1000


def test_senml_pack_keeps_good_readings_around_a_bad_one() -> None:
    payload = senml(
        {"bn": f"{AIR}:", "bt": BT, "n": "seq", "v": 1},
        {"n": "no2", "v": 20.5},
        {"n": "seq", "v": 2, "t": 10},
        {"n": "no2", "v": 2500, "t": 10},
        {"n": "seq", "v": 3, "t": 20},
        {"n": "pm25", "v": 7, "t": 20},
    )
    outcome = parse(payload, kind=SENML)
    assert [r.seq for r in outcome.readings] == [1, 3]
    assert outcome.readings[1] == Reading(AIR, 3, NOW_MS + 20_000, {"pm25": 7.0})
    assert outcome.rejections == [
        Rejection(R.OUT_OF_RANGE, f"record 3 (t={NOW_MS + 10_000}) no2: 2500 above maximum 2000", AIR)
    ]


@pytest.mark.parametrize(
    ("records", "reason", "detail"),
    [
        (
            [{"n": "seq", "v": 1, "bt": BT}, {"n": "no2", "v": 1, "u": "ppm"}],
            R.UNIT_MISMATCH,
            "unit 'ppm', the registry has 'ug/m3'",
        ),
        ([{"bu": "ppm", "n": "seq", "v": 1, "bt": BT}, {"n": "no2", "v": 1}], R.UNIT_MISMATCH, "unit 'ppm'"),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "no2", "v": 1}, {"n": "no2", "v": 2}], R.DUPLICATE_KEY, "record 2"),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "seq", "v": 2}, {"n": "no2", "v": 1}], R.DUPLICATE_KEY, "record 1"),
        ([{"n": "seq", "v": 1, "bt": BT, "u": "count"}, {"n": "no2", "v": 1}], R.UNIT_MISMATCH, "seq has no unit"),
        ([{"n": "seq", "v": 1, "bt": BT}], R.WRONG_SCHEMA, "has no metric"),
        ([{"n": "seq", "v": 1.5, "bt": BT}, {"n": "no2", "v": 1}], R.WRONG_TYPE, "seq must be an integer"),
        ([{"n": "seq", "v": -1, "bt": BT}, {"n": "no2", "v": 1}], R.OUT_OF_RANGE, "seq -1 outside"),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "no2", "vb": True}], R.WRONG_TYPE, "expected a number, got boolean"),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "no2", "vs": "1"}], R.WRONG_TYPE, "got string '1'"),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "no2", "vd": "AAE="}], R.WRONG_TYPE, "got binary data"),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "no2", "s": 1}], R.UNKNOWN_METRIC, "the sum (s) of 'no2'"),
        ([{"n": "seq", "v": 1, "bt": BT, "s": 1}, {"n": "no2", "v": 1}], R.WRONG_SCHEMA, "seq carries no sum"),
        ([{"n": "no2", "v": 1, "bt": BT, "bver": 5}, {"n": "pm25", "v": 1, "bver": 10}], R.WRONG_SCHEMA, "differs"),
        (
            [{"n": "no2", "v": 1, "bt": BT}, {"n": "urn:dev:ow:10e2073a01080063:no2", "v": 1}],
            R.UNKNOWN_METRIC,
            "names no",
        ),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "no2"}], R.WRONG_SCHEMA, "record has 0 values"),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "no2", "v": 1, "vs": "x"}], R.WRONG_SCHEMA, "record has 2 values"),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "co2", "v": 400}], R.UNKNOWN_METRIC, "record 1 (t="),
        ([{"n": "seq", "v": 1, "bt": BT}, {"n": "other-1:no2", "v": 1}], R.TOPIC_MISMATCH, "'other-1:no2'"),
        ([{"n": "seq", "v": 1, "bt": BT + 301}, {"n": "no2", "v": 1}], R.TIMESTAMP_FUTURE, "record 0 (t="),
        ([{"n": "seq", "v": 1, "bt": BT - 32 * 86_400}, {"n": "no2", "v": 1}], R.TIMESTAMP_PAST, "record 0"),
    ],
)
def test_senml_reading_rejections(records: list[dict[str, Any]], reason: RejectReason, detail: str) -> None:
    outcome = parse(senml(*records), kind=SENML)
    assert only_rejection(outcome)[0] == reason
    assert detail in outcome.rejections[0].detail
    assert outcome.rejections[0].device_id == AIR


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b"[]", R.EMPTY_PACK, "the pack holds no records"),
        (senml({"bn": "other-1:", "n": "seq", "v": 1}), R.TOPIC_MISMATCH, "base name 'other-1:'"),
        (senml({"bn": AIR, "n": "seq", "v": 1}), R.TOPIC_MISMATCH, "is not 'aq-000123:'"),
        (senml({"n": "seq", "v": 1, "x": 1}), R.WRONG_SCHEMA, "unknown field `x`"),
        (senml({"n": "seq", "v": "1"}), R.WRONG_SCHEMA, "record 0, field v: Expected `int | float`, got `str`"),
        (senml({"n": "seq", "v": 1, "bver": 11}), R.WRONG_SCHEMA, "SenML version 11"),
        (b'{"n": "seq"}', R.WRONG_SCHEMA, "Expected `array`, got `object`"),
        (b'[{"n": "seq", "n": "no2", "v": 1}]', R.DUPLICATE_KEY, "'n'"),
        (b'[{"n": "seq", "v": 1, "bt": NaN}]', R.NON_FINITE, "record 0: bt is nan"),
        (b'[{"n": "seq", "v": 1', R.MALFORMED_JSON, ""),
    ],
)
def test_senml_pack_rejections(payload: bytes, reason: RejectReason, detail: str) -> None:
    outcome = parse(payload, kind=SENML)
    assert only_rejection(outcome)[0] == reason
    assert detail in outcome.rejections[0].detail


def test_pack_size_limit() -> None:
    records = [{"n": "seq", "v": i, "t": i, "bt": BT} if i == 0 else {"n": "seq", "v": i, "t": i} for i in range(5)]
    assert only_rejection(parse(senml(*records), kind=SENML, limits=ParseLimits(max_records=4))) == (
        R.TOO_MANY_RECORDS,
        "5 records, the limit is 4",
    )


def test_senml_names_times_and_base_values() -> None:
    payload = senml(
        {"bn": f"urn:dev:city:{AIR}:", "bt": BT, "bu": "ug/m3", "bv": 10, "n": "seq", "v": 5},
        {"n": "no2", "v": 1.5},
        {"n": "pm25", "v": 2},
    )
    outcome = parse(payload, kind=SENML)
    # bv adds to every v, including seq's; bu applies to the metrics (seq has no unit).
    assert outcome.readings == [Reading(AIR, 15, NOW_MS, {"no2": 11.5, "pm25": 12.0})]
    # Without a base name, records may carry the full name.
    full_names = senml({"bt": BT, "n": f"{AIR}:seq", "v": 1}, {"n": f"urn:dev:city:{AIR}:no2", "v": 2})
    assert parse(full_names, kind=SENML).readings == [Reading(AIR, 1, NOW_MS, {"no2": 2.0})]


def test_senml_without_base_name_or_time_is_now_and_relative_times_count_from_now() -> None:
    payload = senml(
        {"n": "seq", "v": 1}, {"n": "no2", "v": 1}, {"n": "seq", "v": 2, "t": -60}, {"n": "no2", "v": 2, "t": -60}
    )
    outcome = parse(payload, kind=SENML)
    assert [(r.seq, r.ts_ms) for r in outcome.readings] == [(1, NOW_MS), (2, NOW_MS - 60_000)]


def test_senml_cbor_problems() -> None:
    def cbor(records: object) -> ParseOutcome:
        return parse(cbor2.dumps(records), kind=CBOR)

    assert only_rejection(cbor([]))[0] == R.EMPTY_PACK
    assert only_rejection(cbor({0: "seq"}))[0] == R.WRONG_SCHEMA
    assert only_rejection(cbor([{"n": "seq"}])) == (R.WRONG_SCHEMA, "record 0: unknown label 'n'")
    assert only_rejection(cbor([{0: "seq", 2: 1, 99: 1}])) == (R.WRONG_SCHEMA, "record 0: unknown label 99")
    assert only_rejection(cbor([[1]]))[0] == R.WRONG_SCHEMA
    assert only_rejection(cbor([{0: "seq", 2: 1, -3: float("inf")}]))[0] == R.NON_FINITE
    assert only_rejection(cbor([cbor2.CBORTag(1, 5)]))[0] == R.WRONG_SCHEMA
    assert only_rejection(parse(b"\xa1\x00cseq", kind=CBOR))[0] == R.WRONG_SCHEMA  # a map, not an array
    assert only_rejection(parse(b"\x81\xa2\x00cseq\x00cno2", kind=CBOR))[0] == R.DUPLICATE_KEY
    assert only_rejection(parse(b"\x83\x01", kind=CBOR))[0] == R.MALFORMED_CBOR
    assert only_rejection(parse(b"\x80\x00", kind=CBOR))[0] == R.MALFORMED_CBOR
    assert only_rejection(parse(b"", kind=CBOR))[0] == R.MALFORMED_CBOR
    nan_value = [{0: "seq", 2: 1, -3: BT}, {0: "no2", 2: float("nan")}]
    assert only_rejection(cbor(nan_value))[0] == R.NON_FINITE


def test_thousand_records_in_one_pack_are_accepted() -> None:
    records: list[dict[str, Any]] = [{"bt": BT, "bn": f"{AIR}:"}]
    for i in range(512):
        records += [{"n": "seq", "v": i, "t": -i}, {"n": "no2", "v": i % 100, "t": -i}]
    records[0].update(records.pop(1))
    outcome = parse(senml(*records), kind=SENML)
    assert outcome.rejections == []
    assert len(outcome.readings) == 512


# ------------------------------------------------------------------------------------------- status and birth
def test_status_and_birth() -> None:
    status = Status(DeviceState.OFFLINE, NOW_MS, "will")
    parsed = parse_status(
        topic(AIR, TopicKind.STATUS),
        json.dumps({"state": "offline", "ts_ms": NOW_MS, "reason": "will"}).encode(),
        scheme=SCHEME,
        directory=DIRECTORY,
    )
    assert parsed == (AIR, status)
    bad = parse_status(
        topic(AIR, TopicKind.STATUS), b'{"state": "asleep", "ts_ms": 1}', scheme=SCHEME, directory=DIRECTORY
    )
    assert isinstance(bad, Rejection)
    assert bad.reason == R.WRONG_SCHEMA
    assert isinstance(parse_status(topic(AIR, TopicKind.STATUS), b"{", scheme=SCHEME, directory=DIRECTORY), Rejection)
    wrong_topic = parse_status(topic(AIR, TopicKind.BIRTH), b"{}", scheme=SCHEME, directory=DIRECTORY)
    assert isinstance(wrong_topic, Rejection)
    assert wrong_topic.reason == R.WRONG_SCHEMA
    birth = {"device_id": AIR, "device_type": "air_quality", "firmware": "1.0.0", "ipv6": "fd00::1",
             "network": "broadband", "ts_ms": NOW_MS, "metrics": ["no2"], "report_interval_s": 60}  # fmt: skip
    parsed_birth = parse_birth(
        topic(AIR, TopicKind.BIRTH), json.dumps(birth).encode(), scheme=SCHEME, directory=DIRECTORY
    )
    assert isinstance(parsed_birth, tuple)
    assert isinstance(parsed_birth[1], Birth)
    assert parsed_birth[1].firmware == "1.0.0"
    mismatch = parse_birth(
        topic(LIGHT, TopicKind.BIRTH), json.dumps(birth).encode(), scheme=SCHEME, directory=DIRECTORY
    )
    assert isinstance(mismatch, Rejection)
    assert (mismatch.reason, mismatch.device_id) == (R.TOPIC_MISMATCH, LIGHT)
    unknown = parse_birth(topic("zz-1", TopicKind.BIRTH), b"{}", scheme=SCHEME, directory=DIRECTORY)
    assert isinstance(unknown, Rejection)
    assert unknown.reason == R.UNKNOWN_DEVICE


# ------------------------------------------------------------------------------------------------ hostile input
def assert_documented(outcome: ParseOutcome) -> None:
    """Something came out, and every rejection has a documented reason and a non-empty detail."""
    assert outcome.readings or outcome.rejections
    for rejection in outcome.rejections:
        assert rejection.reason in DOCUMENTED_REASONS
        assert rejection.detail


KINDS = st.sampled_from([TopicKind.READING, SENML, CBOR])
DEVICES = st.sampled_from([AIR, LIGHT, PARKING, DISPLAY, OCCUPANCY, "zz-404"])


@PROPERTY_SETTINGS
@given(payload=st.binary(max_size=300), kind=KINDS, device_id=DEVICES)
def test_random_bytes_never_raise(payload: bytes, kind: TopicKind, device_id: str) -> None:
    assert_documented(parse(payload, device_id, kind))


LONE_SURROGATES = st.text(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, blacklist_categories=()) | st.sampled_from("ab:"),
    min_size=1,
    max_size=4,
)
"""Strings holding lone surrogates: not Unicode text, yet a JSON escape (\\ud800) can write one."""
KEYS = st.text(max_size=8) | LONE_SURROGATES
TEXT_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.integers(min_value=-(10**600), max_value=10**600)
    | st.sampled_from([1.7e308, -1.7e308, 5e-324])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
"""Scalars both JSON and CBOR can carry."""
JSON_SCALARS = TEXT_SCALARS | LONE_SURROGATES
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)
METRIC_NAMES = st.sampled_from(["no2", "pm25", "battery", "occupied", "message", "occupancy", "lamp_on", "seq", "n"])


@PROPERTY_SETTINGS
@given(document=JSON_VALUES, kind=KINDS)
def test_random_json_never_raises(document: object, kind: TopicKind) -> None:
    assert_documented(parse(json.dumps(document).encode(), kind=kind))


@PROPERTY_SETTINGS
@given(
    dev=st.sampled_from([AIR, LIGHT]) | st.text(max_size=10),
    seq=JSON_SCALARS,
    ts=st.integers(min_value=-(2**70), max_value=2**70) | JSON_SCALARS,
    metrics=st.dictionaries(METRIC_NAMES | st.text(max_size=5) | LONE_SURROGATES, JSON_VALUES, max_size=4),
    extra=st.dictionaries(st.sampled_from(["dev", "x", "m"]) | LONE_SURROGATES, JSON_SCALARS, max_size=1),
)
def test_reading_shaped_json_never_raises(
    dev: object, seq: object, ts: object, metrics: object, extra: dict[str, object]
) -> None:
    document = {"dev": dev, "seq": seq, "ts": ts, "m": metrics, **extra}
    assert_documented(parse(json.dumps(document).encode()))


SENML_LABELS = st.sampled_from(["bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"])
SENML_VALUES = JSON_SCALARS | METRIC_NAMES | st.sampled_from([f"{AIR}:", BT, BT + 1.5, 0, -5])


@PROPERTY_SETTINGS
@given(records=st.lists(st.dictionaries(SENML_LABELS | LONE_SURROGATES, SENML_VALUES, max_size=5), max_size=8))
def test_senml_shaped_json_never_raises(records: list[dict[str, object]]) -> None:
    assert_documented(parse(json.dumps(records).encode(), kind=SENML))


CBOR_LABELS = st.sampled_from([-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 99]) | st.text(max_size=3)
CBOR_VALUES = (
    TEXT_SCALARS
    | METRIC_NAMES
    | st.sampled_from([f"{AIR}:", BT, 0, -5])
    | st.binary(max_size=8)
    | st.builds(cbor2.CBORTag, st.integers(0, 300), st.integers())
)


@PROPERTY_SETTINGS
@given(
    records=st.lists(st.dictionaries(CBOR_LABELS, CBOR_VALUES, max_size=5) | CBOR_VALUES, max_size=8),
    cut=st.integers(min_value=0, max_value=400),
)
def test_senml_shaped_cbor_never_raises(records: list[object], cut: int) -> None:
    payload = cbor2.dumps(records)
    assert_documented(parse(payload, kind=CBOR))
    assert_documented(parse(payload[:cut], kind=CBOR))  # truncated anywhere


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"\x81" * 60_000 + b"\x00", CBOR),
        (b"\x9f" * 60_000, CBOR),
        (b"\xbb\xff\xff\xff\xff\xff\xff\xff\xff", CBOR),  # a map claiming 2**64-1 pairs
        (b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", CBOR),  # a byte string claiming 2**64-1 bytes
        (b"\x81\x7f\x61a\x41b\xff", CBOR),  # indefinite text with a byte-string chunk
        (b"\x81\xa1\x00\x63\xff\xfe\xfd", CBOR),  # invalid UTF-8 in a text string
        (b'{"a":' * 20_000, SENML),
        (b"[" + b"1" * 5_000 + b"]", SENML),
        (b'{"dev": "aq-000123", "seq": 1' + b"0" * 5_000 + b', "ts": 1, "m": {"no2": 1}}', TopicKind.READING),
        (json.dumps([{"n": "seq", "v": i} for i in range(3_000)]).encode(), SENML),
    ],
)
def test_hostile_payloads(payload: bytes, kind: TopicKind) -> None:
    outcome = parse(payload, kind=kind)
    assert outcome.readings == []
    assert_documented(outcome)


HUGE = b"1" + b"0" * 4_000


@pytest.mark.parametrize(
    ("payload", "kind", "reason"),
    [
        (b'{"dev":"aq-000123","seq":1,"ts":' + HUGE + b',"m":{"no2":1}}', TopicKind.READING, R.TIMESTAMP_FUTURE),
        (b'{"dev":"aq-000123","seq":1,"ts":-' + HUGE + b',"m":{"no2":1}}', TopicKind.READING, R.TIMESTAMP_PAST),
        (reading_json(m={"no2": 1}).replace(b'"no2": 1', b'"no2": ' + HUGE), TopicKind.READING, R.OUT_OF_RANGE),
        (b'[{"bt":1.7e308,"n":"seq","v":1},{"n":"no2","v":1}]', SENML, R.TIMESTAMP_FUTURE),
        (b'[{"bt":-1.7e308,"n":"seq","v":1},{"n":"no2","v":1}]', SENML, R.TIMESTAMP_PAST),
        (b'[{"bt":' + HUGE + b',"n":"seq","v":1},{"n":"no2","v":1}]', SENML, R.TIMESTAMP_FUTURE),
        (b'[{"n":"seq","v":' + HUGE + b'},{"n":"no2","v":1}]', SENML, R.OUT_OF_RANGE),
        (b'[{"n":"seq","v":1},{"n":"no2","v":-' + HUGE + b"}]", SENML, R.OUT_OF_RANGE),
    ],
)
def test_huge_numbers_are_rejected_not_raised(payload: bytes, kind: TopicKind, reason: RejectReason) -> None:
    outcome = parse(payload, kind=kind)
    assert outcome.readings == []
    assert outcome.rejections[0].reason == reason
    assert len(outcome.rejections[0].detail) < 200


def test_status_parsers_never_raise_on_garbage() -> None:
    for payload in (b"\xff", b"[" * 10_000, b"{}", b"null", b'{"state": "online", "ts_ms": 1e999}'):
        assert isinstance(
            parse_status(topic(AIR, TopicKind.STATUS), payload, scheme=SCHEME, directory=DIRECTORY), Rejection
        )
        assert isinstance(
            parse_birth(topic(AIR, TopicKind.BIRTH), payload, scheme=SCHEME, directory=DIRECTORY), Rejection
        )


@PROPERTY_SETTINGS
@given(
    device_id=st.sampled_from([AIR, LIGHT, PARKING, OCCUPANCY]),
    seq=st.integers(min_value=-1, max_value=2**63) | st.just(1.0),
    ts=st.integers(min_value=NOW_MS - 32 * 86_400_000, max_value=NOW_MS + 400_000),
    metrics=st.dictionaries(
        st.sampled_from(["no2", "pm25", "battery", "rssi", "occupied", "occupancy", "lamp_on", "dim_level", "co2"]),
        st.integers(-(2**65), 2**65) | st.floats() | st.booleans() | st.none() | st.just("1"),
        max_size=4,
    ),
)
def test_fast_path_accepts_only_what_the_checked_path_accepts(
    device_id: str, seq: object, ts: int, metrics: dict[str, object]
) -> None:
    payload = json.dumps({"dev": device_id, "seq": seq, "ts": ts, "m": metrics}).encode()
    with mock.patch.object(parse_module, "has_no_repeats", return_value=False):
        checked = parse(payload, device_id)
    outcome = parse(payload, device_id)
    assert [typed(r) for r in outcome.readings] == [typed(r) for r in checked.readings]
    assert outcome.rejections == checked.rejections


@pytest.mark.parametrize(
    ("payload", "device_id", "kind", "reason", "detail"),
    [
        (rb'{"dev":"aq-000123","seq":1,"ts":1764390000123,"m":{"\ud800":1}}', AIR, TopicKind.READING,
         R.UNKNOWN_METRIC, r"m.'\ud800': not a metric"),
        (rb'{"dev":"aq-000123","seq":1,"ts":1764390000123,"m":{"no2":1},"\ud800":1}', AIR, TopicKind.READING,
         R.WRONG_SCHEMA, r"key '\ud800' (a lone surrogate) is not a field"),
        (rb'{"dev":"\udc00","seq":1,"ts":1764390000123,"m":{"no2":1}}', AIR, TopicKind.READING,
         R.TOPIC_MISMATCH, r"dev '\udc00' differs"),
        (rb'{"dev":"id-000009","seq":1,"ts":1764390000123,"m":{"message":"a\ud800"}}', DISPLAY, TopicKind.READING,
         R.WRONG_TYPE, r"forbidden character '\ud800' at position 1"),
        (rb'[{"n":"\ud800","v":1}]', AIR, SENML, R.UNKNOWN_METRIC, r"'\ud800': not a metric"),
        (rb'[{"n":"no2","v":1,"\ud800x":1}]', AIR, SENML, R.WRONG_SCHEMA, r"key '\ud800x' (a lone surrogate)"),
        (rb'[{"bn":"\ud800:","n":"no2","v":1}]', AIR, SENML, R.UNKNOWN_METRIC, "names no registry metric"),
        (rb'[{"n":"no2","u":"\udfff","v":1}]', AIR, SENML, R.UNIT_MISMATCH, r"unit '\udfff'"),
        (rb'[{"n":"message","vs":"\ud800"}]', DISPLAY, SENML, R.WRONG_TYPE, r"forbidden character '\ud800'"),
        (rb'[{"n":"no2","vd":"\ud800"}]', AIR, SENML, R.WRONG_SCHEMA, "is not base64url data"),
    ],
)  # fmt: skip
def test_lone_surrogates_get_a_reason_not_an_exception(
    payload: bytes, device_id: str, kind: TopicKind, reason: RejectReason, detail: str
) -> None:
    assert payload.isascii()  # the JSON escape, not the (unencodable) character itself
    found, text = only_rejection(parse(payload, device_id, kind))
    assert (found, detail in text) == (reason, True), text


def test_a_pack_without_seq_records_is_stored_without_sequence_numbers() -> None:
    payload = senml({"bn": f"{AIR}:", "bt": BT, "n": "no2", "v": 20.5}, {"n": "no2", "t": 60, "v": 21.0})
    assert parse(payload, kind=SENML).readings == [
        Reading(AIR, None, NOW_MS, {"no2": 20.5}),
        Reading(AIR, None, NOW_MS + 60_000, {"no2": 21.0}),
    ]
    mixed = senml({"bt": BT, "n": "seq", "v": 7}, {"n": "no2", "v": 1}, {"n": "no2", "t": 1, "v": 2})
    assert [r.seq for r in parse(mixed, kind=SENML).readings] == [7, None]  # per reading: its own seq record


def test_a_pack_of_base_fields_only_is_empty() -> None:
    assert only_rejection(parse(senml({"bn": f"{AIR}:", "bt": BT}), kind=SENML)) == (
        R.EMPTY_PACK,
        "the pack holds base fields only, no measurement",
    )


def test_relative_times_count_from_the_anchor_and_the_window_from_the_clock() -> None:
    payload = senml({"n": "no2", "v": 1}, {"n": "no2", "t": -60, "v": 2})
    anchored = parse_message(
        topic(AIR, SENML), payload, scheme=SCHEME, directory=DIRECTORY, now_ms=NOW_MS, anchor_ms=NOW_MS - 3_600_000
    )
    assert anchored.relative
    assert [r.ts_ms for r in anchored.readings] == [NOW_MS - 3_600_000, NOW_MS - 3_660_000]
    too_old = parse_message(
        topic(AIR, SENML),
        payload,
        scheme=SCHEME,
        directory=DIRECTORY,
        now_ms=NOW_MS,
        anchor_ms=NOW_MS - 32 * 86_400_000,
    )
    assert {r.reason for r in too_old.rejections} == {R.TIMESTAMP_PAST}
    absolute = senml({"bt": BT, "n": "no2", "v": 1})
    assert not parse(absolute, kind=SENML).relative
    assert not parse(reading_json()).relative  # JSON readings carry absolute times


@pytest.mark.parametrize(
    ("vd", "outcome"),
    [
        ("AAE", R.WRONG_TYPE),
        ("AAE=", R.WRONG_TYPE),
        ("_-8", R.WRONG_TYPE),
        ("A", R.WRONG_SCHEMA),
        ("a b", R.WRONG_SCHEMA),
    ],
)
def test_data_values_are_base64url(vd: str, outcome: RejectReason) -> None:
    """RFC 8428 section 5: URL-safe alphabet, padding omitted (padding is read too). No metric takes data."""
    assert only_rejection(parse(senml({"n": "no2", "vd": vd}), kind=SENML))[0] == outcome
    cbor_data = only_rejection(parse(cbor2.dumps([{0: "no2", 8: b"\x00\x01"}]), kind=CBOR))
    assert cbor_data == (R.WRONG_TYPE, f"record 0 (t={NOW_MS}) no2: expected a number, got binary data")
    assert only_rejection(parse(cbor2.dumps([{0: "no2", 8: "AAE"}]), kind=CBOR))[0] == R.WRONG_SCHEMA
