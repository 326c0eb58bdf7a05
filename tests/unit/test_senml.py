"""SenML packs: the encoders' compact form, the CBOR decoder, and round trips through JSON and CBOR."""

from __future__ import annotations

import json
import struct
from unittest import mock

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcity.city.model import RadioProfile
from smartcity.contract import cbor
from smartcity.contract.reading import Reading, RejectReason
from smartcity.contract.senml import (
    CBOR_LABELS,
    decode_senml_cbor,
    decode_senml_json,
    encode_senml_cbor,
    encode_senml_json,
)
from smartcity.contract.topics import TopicKind
from smartcity.contract.validate import Invalid
from tests.support.contract import AIR, LIGHT, NOW_MS, PARKING, PROPERTY_SETTINGS, parse, typed, valid_readings

FIRST = Reading(AIR, 7, 1764390000123, {"no2": 23.4, "pm25": 8.0})
SECOND = Reading(AIR, 8, 1764390005125, {"no2": 21.5})


def test_json_pack_shape() -> None:
    assert json.loads(encode_senml_json([FIRST, SECOND])) == [
        {"bn": "aq-000123:", "bt": 1764390000.123, "n": "seq", "v": 7},
        {"n": "no2", "v": 23.4},
        {"n": "pm25", "v": 8.0},
        {"n": "seq", "v": 8, "t": 5.002},
        {"n": "no2", "v": 21.5, "t": 5.002},
    ]


def test_cbor_pack_uses_integer_labels_and_compact_numbers() -> None:
    pack = cbor2.loads(encode_senml_cbor([FIRST]))
    assert pack == [{-2: "aq-000123:", -3: 1764390000.123, 0: "seq", 2: 7}, {0: "no2", 2: 23.4}, {0: "pm25", 2: 8}]
    assert type(pack[2][2]) is int  # 8.0 travels as the one-byte integer 8
    assert CBOR_LABELS[-2] == "bn"


def test_whole_second_times_are_integers() -> None:
    reading = Reading(AIR, 1, 1764390000000, {"no2": 1.5})
    assert cbor2.loads(encode_senml_cbor([reading], base_name=False))[0][-3] == 1764390000
    assert json.loads(encode_senml_json([reading], base_name=False))[0] == {"bt": 1764390000, "n": "seq", "v": 1}


def test_a_narrowband_reading_fits_the_51_byte_budget() -> None:
    budget = RadioProfile.LORAWAN_SF12.payload_budget
    two_metrics = Reading(LIGHT, 65_000, 1764390000000, {"dim_level": 40, "lamp_power": 35.5})
    one_decimal = Reading(AIR, 65_000, 1764390000000, {"no2": 23.4, "pm25": 8.1})
    millisecond_time = Reading(PARKING, 65_000, 1764390000123, {"occupied": True, "battery": 87.5})
    for reading in (two_metrics, one_decimal, millisecond_time):
        payload = encode_senml_cbor([reading], base_name=False)
        assert len(payload) <= budget, (reading, len(payload))
        assert parse(payload, reading.device_id, TopicKind.SENML_CBOR).readings == [reading]


def test_encoders_refuse_what_a_pack_cannot_carry() -> None:
    with pytest.raises(ValueError, match="at least one reading"):
        encode_senml_cbor([])
    with pytest.raises(ValueError, match="one device"):
        encode_senml_json([FIRST, Reading(LIGHT, 1, NOW_MS, {"dim_level": 1})])
    with pytest.raises(ValueError, match="finite"):
        encode_senml_cbor([Reading(AIR, 1, NOW_MS, {"no2": float("inf")})])


# --------------------------------------------------------------------------------------------- CBOR decoder
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00", 0),
        (b"\x17", 23),
        (b"\x18\x18", 24),
        (b"\x19\x01\x00", 256),
        (b"\x1b\xff\xff\xff\xff\xff\xff\xff\xff", 2**64 - 1),
        (b"\x3b\xff\xff\xff\xff\xff\xff\xff\xff", -(2**64)),
        (b"\x20", -1),
        (b"\xf9\x3e\x00", 1.5),
        (b"\xf9\x7c\x00", float("inf")),
        (b"\xfa\x47\xc3\x50\x00", 100000.0),
        (b"\xfb" + struct.pack(">d", 1.1), 1.1),
        (b"\xf4", False),
        (b"\xf5", True),
        (b"\xf6", None),
        (b"\x43abc", b"abc"),
        (b"\x63abc", "abc"),
        (b"\x5f\x41a\x42bc\xff", b"abc"),
        (b"\x7f\x61a\x62bc\xff", "abc"),
        (b"\x9f\x01\x02\xff", [1, 2]),
        (b"\xbf\x00\x01\x61k\x02\xff", {0: 1, "k": 2}),
        (b"\x82\xa1\x00\x01\x80", [{0: 1}, []]),
    ],
)
def test_cbor_decoder_accepts_the_senml_data_model(data: bytes, expected: object) -> None:
    assert cbor.decode(data) == expected


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", cbor.CborError),
        (b"\x18", cbor.CborError),
        (b"\x1c", cbor.CborError),
        (b"\x00\x00", cbor.CborError),
        (b"\xff", cbor.CborError),
        (b"\x82\x01\xff", cbor.CborError),
        (b"\x1f", cbor.CborError),
        (b"\x5f\x61a\xff", cbor.CborError),
        (b"\x62\xc3\x28", cbor.CborError),
        (b"\xf8\x01", cbor.CborError),
        (b"\xbf\x00\xff", cbor.CborError),
        (b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", cbor.CborError),
        (b"\xc1\x00", cbor.CborShapeError),
        (b"\xf7", cbor.CborShapeError),
        (b"\xf8\x20", cbor.CborShapeError),
        (b"\xa1\xf5\x00", cbor.CborShapeError),
        (b"\xa1\x80\x00", cbor.CborShapeError),
        (b"\x81\x81\x81\x00", cbor.CborShapeError),
        (b"\xa2\x00\x01\x00\x02", cbor.CborDuplicateKey),
    ],
)
def test_cbor_decoder_refuses(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        cbor.decode(data, max_depth=2)


CBOR_INTEGERS = st.integers(-(2**64), 2**64 - 1)  # wider ones are bignum tags, refused by design
CBOR_DOCUMENTS = st.recursive(
    st.none() | st.booleans() | CBOR_INTEGERS | st.floats() | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(CBOR_INTEGERS | st.text(), children, max_size=4),
    max_leaves=20,
)


@PROPERTY_SETTINGS
@given(document=CBOR_DOCUMENTS)
def test_cbor_decoder_agrees_with_cbor2(document: object) -> None:
    encoded = cbor2.dumps(document)
    decoded = cbor.decode(encoded, max_depth=64)
    assert cbor2.dumps(decoded) == encoded  # same value (NaN-safe comparison through the encoding)


# --------------------------------------------------------------------------------------------- round trips
@st.composite
def packs(draw: st.DrawFn) -> list[Reading]:
    """Readings of one device with distinct timestamps, in any order (narrowband backlogs arrive unordered)."""
    device_id = draw(st.sampled_from([AIR, LIGHT, PARKING, "id-000009", "oc-000001"]))
    times = draw(st.lists(st.integers(NOW_MS - 31 * 86_400_000, NOW_MS + 300_000), min_size=1, max_size=6, unique=True))
    return [draw(valid_readings(device_id=device_id, ts_ms=ts)) for ts in times]


@PROPERTY_SETTINGS
@given(readings=packs(), base_name=st.booleans())
def test_round_trip_through_senml_json(readings: list[Reading], base_name: bool) -> None:
    payload = encode_senml_json(readings, base_name=base_name)
    outcome = parse(payload, readings[0].device_id, TopicKind.SENML)
    assert outcome.rejections == []
    assert [typed(r) for r in outcome.readings] == [typed(r) for r in readings]


@PROPERTY_SETTINGS
@given(readings=packs(), base_name=st.booleans())
def test_round_trip_through_senml_cbor(readings: list[Reading], base_name: bool) -> None:
    payload = encode_senml_cbor(readings, base_name=base_name)
    outcome = parse(payload, readings[0].device_id, TopicKind.SENML_CBOR)
    assert outcome.rejections == []
    assert [typed(r) for r in outcome.readings] == [typed(r) for r in readings]


def _decoded(payload: bytes) -> tuple[str, object]:
    try:
        return "records", decode_senml_cbor(payload)
    except Invalid as problem:
        return "rejected", problem.reason


SENML_ITEMS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5) | st.binary(max_size=4)
    | st.sampled_from(["seq", "no2", f"{AIR}:", cbor2.undefined, cbor2.CBORSimpleValue(99)])
    | st.builds(cbor2.CBORTag, st.sampled_from([1, 2, 3, 4, 30, 32, 37, 55799, 999]), st.integers(0, 2**70))
)  # fmt: skip
SENML_MAPS = st.dictionaries(st.integers(-6, 9) | st.text(max_size=2), SENML_ITEMS | st.lists(SENML_ITEMS, max_size=2))


@PROPERTY_SETTINGS
@given(document=st.lists(SENML_MAPS | SENML_ITEMS, max_size=5), canonical=st.booleans())
def test_fast_cbor_path_agrees_with_the_strict_decoder(document: list[object], canonical: bool) -> None:
    try:
        payload = cbor2.dumps(document, canonical=canonical)
    except (TypeError, ValueError):  # cbor2 cannot encode some tagged values (e.g. an invalid UUID)
        return
    with mock.patch.object(cbor, "decode_fast", return_value=None):
        strict = _decoded(payload)
    assert _decoded(payload) == strict


def test_duplicates_that_cbor2_would_merge_are_found() -> None:
    # {0: "seq", 0: "no2"}: cbor2 keeps "no2"; the length proof sends it to the strict decoder.
    with pytest.raises(Invalid) as caught:
        decode_senml_cbor(b"\x81\xa2\x00cseq\x00cno2")
    assert caught.value.reason is RejectReason.DUPLICATE_KEY


def test_packs_in_non_preferred_cbor_are_accepted() -> None:
    records = [{-3: 1764390000.123, 0: "seq", 2: 1}, {0: "no2", 2: 1.5}]
    longest_floats = cbor2.dumps(records)  # float64 for 1.5 as well: not the shortest form
    indefinite = b"\x9f" + b"".join(cbor2.dumps(record) for record in records) + b"\xff"
    for payload in (longest_floats, indefinite):
        assert parse(payload, AIR, TopicKind.SENML_CBOR).readings == [Reading(AIR, 1, 1764390000123, {"no2": 1.5})]


def test_escaped_colons_cannot_hide_a_repeated_key_in_json() -> None:
    payload = b'[{"bn":"aq-000123\\u003a","bn":"aq-000123\\u003a","bt":1764390000.123,"n":"seq","v":1}]'
    with pytest.raises(Invalid) as caught:
        decode_senml_json(payload)
    assert caught.value.reason is RejectReason.DUPLICATE_KEY


@pytest.mark.parametrize(
    "payload",
    [
        b"\x81\xa3\x00cno2\x02\xf9\x3e\x00\x02\xf9\x41\x00",  # {n: "no2", v: 1.5, v: 2.5}, halves
        b"\x81\xa3\x00cno2\x02\xfb" + struct.pack(">d", 0.1) + b"\x02\xf9\x41\x00",  # a double, then a half
        b"\x81\xa3\x02\x01\x00cseq\x02\x02",  # {v: 1, n: "seq", v: 2}
    ],
)
def test_repeated_labels_are_found_whatever_the_float_widths(payload: bytes) -> None:
    assert cbor.decode_fast(payload) is None
    with pytest.raises(Invalid) as caught:
        decode_senml_cbor(payload)
    assert caught.value.reason is RejectReason.DUPLICATE_KEY


def test_a_float_marker_byte_inside_a_value_does_not_defeat_the_fast_path() -> None:
    value = next(v / 10 for v in range(1, 10_000) if b"\xf9" in struct.pack(">d", v / 10))
    payload = encode_senml_cbor([Reading(AIR, 1, NOW_MS, {"no2": value, "pm25": 1.5, "pm10": float(2**-20)})])
    assert cbor.decode_fast(payload) == cbor.decode(payload)
    assert parse(payload, AIR, TopicKind.SENML_CBOR).readings[0].values["no2"] == value


CBOR_SCALARS = (
    st.floats(width=16) | st.floats(width=32) | st.floats() | st.integers(-(2**40), 2**40) | st.text(max_size=3)
)


@PROPERTY_SETTINGS
@given(records=st.lists(st.lists(st.tuples(st.integers(-6, 9), CBOR_SCALARS, st.booleans()), max_size=5), max_size=4))
def test_the_fast_decoder_never_hides_a_repeated_key(records: list[list[tuple[int, object, bool]]]) -> None:
    """Raw maps, repeats allowed, each value in its shortest form or (False) as cbor2 writes it by default."""
    payload = bytes([0x80 + len(records)]) + b"".join(
        bytes([0xA0 + len(pairs)])
        + b"".join(cbor2.dumps(key) + cbor2.dumps(value, canonical=short) for key, value, short in pairs)
        for pairs in records
    )
    fast = cbor.decode_fast(payload)
    try:
        strict: object = cbor.decode(payload, max_depth=2)
    except cbor.CborDuplicateKey:
        assert fast is None
        return
    if fast is not None:
        assert cbor2.dumps(fast) == cbor2.dumps(strict)


@pytest.mark.parametrize(
    ("data", "count"),
    [
        (b"\x80", 0),
        (b"\x97", 23),
        (b"\x98\x20", 32),
        (b"\x99\x03\xe8", 1000),
        (b"\x9b\x00\x00\x00\x00\x00\x00\x00\x05", 5),
        (b"\x9f\x01\xff", None),  # indefinite length: nothing declared
        (b"\x99\x03", None),  # truncated header
        (b"\xa0", None),  # not an array
        (b"", None),
    ],
)
def test_declared_array_length(data: bytes, count: int | None) -> None:
    assert cbor.declared_array_length(data) == count


def test_too_many_records_in_cbor_whichever_decoder_sees_them() -> None:
    plain = cbor2.dumps([{0: "seq", 2: i, 6: i} for i in range(30)])
    claimed = b"\x99\x10\x00" + b"\x01" * 100  # claims 4096 records, holds garbage: not even decoded
    for payload in (plain, claimed):
        with pytest.raises(Invalid) as caught:
            decode_senml_cbor(payload, max_records=20)
        assert caught.value.reason is RejectReason.TOO_MANY_RECORDS


@pytest.mark.parametrize("value", [2**70, -(2**70), 2**64 - 1, -(2**64)])
def test_integers_beyond_64_bits_get_the_strict_decoders_answer(value: int) -> None:
    payload = cbor2.dumps([{0: "seq", 2: 1, -3: 1764390000}, {0: "no2", 2: value}])
    assert cbor.decode_fast(payload) is None
    with mock.patch.object(cbor, "decode_fast", return_value=None):
        strict = _decoded(payload)
    assert _decoded(payload) == strict


def test_readings_without_sequence_numbers_travel_without_seq_records() -> None:
    readings = [Reading(AIR, None, 1764390000123, {"no2": 23.4}), Reading(AIR, None, 1764390005125, {"pm25": 8.0})]
    assert json.loads(encode_senml_json(readings)) == [
        {"bn": "aq-000123:", "bt": 1764390000.123, "n": "no2", "v": 23.4},
        {"n": "pm25", "v": 8.0, "t": 5.002},
    ]
    assert cbor2.loads(encode_senml_cbor(readings, base_name=False))[0] == {-3: 1764390000.123, 0: "no2", 2: 23.4}
    for kind, payload in (
        (TopicKind.SENML, encode_senml_json(readings)),
        (TopicKind.SENML_CBOR, encode_senml_cbor(readings)),
    ):
        assert parse(payload, AIR, kind).readings == readings
    with pytest.raises(ValueError, match="has no values"):
        encode_senml_json([Reading(AIR, None, NOW_MS, {})])


@PROPERTY_SETTINGS
@given(readings=packs(), base_name=st.booleans(), unmeasured=st.booleans())
def test_round_trip_with_and_without_sequence_numbers(
    readings: list[Reading], base_name: bool, unmeasured: bool
) -> None:
    if unmeasured:
        readings = [Reading(r.device_id, None, r.ts_ms, r.values) for r in readings]
    for kind, encode in ((TopicKind.SENML, encode_senml_json), (TopicKind.SENML_CBOR, encode_senml_cbor)):
        outcome = parse(encode(readings, base_name=base_name), readings[0].device_id, kind)
        assert outcome.rejections == []
        assert [typed(r) for r in outcome.readings] == [typed(r) for r in readings]


def test_base_sum_has_cbor_label_minus_6() -> None:
    assert CBOR_LABELS[-6] == "bs"
    payload = cbor2.dumps([{-3: 1764390000, -6: 3600, 0: "power", 2: 1.5, 5: 0}])
    assert parse(payload, "em-1", TopicKind.SENML_CBOR).rejections[0].reason is RejectReason.UNKNOWN_DEVICE
    assert decode_senml_cbor(payload)[0].bs == 3600
