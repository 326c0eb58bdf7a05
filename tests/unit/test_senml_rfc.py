"""RFC 8428's own examples as test vectors, in JSON and CBOR.

Verbatim, they name devices and quantities of their own (``urn:dev:ow:...``, ``voltage``) and most carry times
from 2010 and 2011: each gets the reason it deserves. Adapted to a device of the test city and to registry metric
names and units (the structure kept: base name, base time, base unit, relative times, ``bver``, no ``seq``), each
is stored. docs/CONTRACT.md has the same table ("RFC 8428 examples").
"""

from __future__ import annotations

import base64
import json
from typing import Any

import cbor2
import pytest

from smartcity.city.directory import DeviceDirectory, DeviceInfo
from smartcity.city.model import DeviceType, FacilityKind, NetworkClass
from smartcity.contract.metrics import METRICS, Temporality
from smartcity.contract.parse import parse_message
from smartcity.contract.reading import ParseOutcome, Reading, RejectReason, Value
from smartcity.contract.records import SUMS
from smartcity.contract.senml import CBOR_LABELS
from smartcity.contract.topics import TopicKind
from tests.support.contract import DIRECTORY, DISPLAY, LIGHT, NOW_MS, SCHEME, topic

R = RejectReason
WEATHER, METER, WATER, WEATHER_2 = "ws-000001", "em-000001", "wm-000001", "ws-000002"
VECTOR_DIRECTORY = DeviceDirectory(
    [
        *DIRECTORY,
        DeviceInfo(WEATHER, DeviceType.WEATHER, "west", "park-0006", FacilityKind.PARK, NetworkClass.NARROWBAND),
        DeviceInfo(WEATHER_2, DeviceType.WEATHER, "west", "park-0006", FacilityKind.PARK, NetworkClass.NARROWBAND),
        DeviceInfo(METER, DeviceType.ENERGY_METER, "north", "school-0001", FacilityKind.SCHOOL,
                   NetworkClass.BROADBAND),
        DeviceInfo(WATER, DeviceType.WATER_METER, "north", "school-0001", FacilityKind.SCHOOL,
                   NetworkClass.NARROWBAND),
    ]
)  # fmt: skip
BT = NOW_MS / 1000
"""The adapted vectors' base time: the examples' absolute times moved to the test clock."""


def parse(payload: bytes, device_id: str, kind: TopicKind = TopicKind.SENML, now_ms: int = NOW_MS) -> ParseOutcome:
    return parse_message(topic(device_id, kind), payload, scheme=SCHEME, directory=VECTOR_DIRECTORY, now_ms=now_ms)


def to_cbor(text: bytes) -> bytes:
    """The same pack with RFC 8428's integer labels, data values as byte strings (section 6)."""
    labels = {name: label for label, name in CBOR_LABELS.items()}

    def value(label: str, given: Any) -> Any:
        return base64.urlsafe_b64decode(given + "=" * (-len(given) % 4)) if label == "vd" else given

    return bytes(cbor2.dumps([{labels[k]: value(k, v) for k, v in record.items()} for record in json.loads(text)]))


# ----------------------------------------------------------------------------------------------- verbatim
V_5_1_1 = b'[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]'
V_5_1_2_NOW = b"""[
  {"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},
  {"n":"current","u":"A","v":1.2}
]"""
V_5_1_2_TIMED = b"""[
  {"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,
   "bu":"A","bver":5,
   "n":"voltage","u":"V","v":120.1},
  {"n":"current","t":-5,"v":1.2},
  {"n":"current","t":-4,"v":1.3},
  {"n":"current","t":-3,"v":1.4},
  {"n":"current","t":-2,"v":1.5},
  {"n":"current","t":-1,"v":1.6},
  {"n":"current","v":1.7}
]"""
V_5_1_2_STREAM = b"""[
  {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,
   "bu":"%RH","v":21.2},
  {"t":10,"v":21.3},
  {"t":20,"v":21.4},
  {"t":30,"v":21.4},
  {"t":40,"v":21.5},
  {"t":50,"v":21.5},
  {"t":60,"v":21.5},
  {"t":70,"v":21.6},
  {"t":80,"v":21.7}
]"""  # the RFC's stream goes on ("..."): the records it shows, closed
V_5_1_3 = b"""[
  {"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,
   "bu":"%RH","v":20},
  {"u":"lon","v":24.30621},
  {"u":"lat","v":60.07965},
  {"t":60,"v":20.3},
  {"u":"lon","t":60,"v":24.30622},
  {"u":"lat","t":60,"v":60.07965},
  {"t":120,"v":20.7},
  {"u":"lon","t":120,"v":24.30623},
  {"u":"lat","t":120,"v":60.07966},
  {"u":"%EL","t":150,"v":98},
  {"t":180,"v":21.2},
  {"u":"lon","t":180,"v":24.30628},
  {"u":"lat","t":180,"v":60.07967}
]"""
V_5_1_4 = b"""[
  {"n":"urn:dev:ow:10e2073a01080063","u":"%RH","t":1.320067464e+09,"v":20},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lon","t":1.320067464e+09,"v":24.30621},
  {"n":"urn:dev:ow:10e2073a01080063","u":"lat","t":1.320067464e+09,"v":60.07965},
  {"n":"urn:dev:ow:10e2073a01080063","u":"%EL","t":1.320067614e+09,"v":98}
]"""  # the first three records of the resolved form, and the battery record
V_5_1_5 = b"""[
  {"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},
  {"n":"label","vs":"Machine Room"},
  {"n":"open","vb":false},
  {"n":"nfv-reader","vd":"aGkgCg"}
]"""
V_5_1_6 = b"""[
  {"bn":"2001:db8::2/","bt":1.320078429e+09,
   "n":"temperature","u":"Cel","v":25.2},
  {"n":"humidity","u":"%RH","v":30},
  {"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":12.3},
  {"n":"humidity","u":"%RH","v":67}
]"""
V_5_1_7_THERMOSTAT = b"""[
  {"bn":"urn:dev:ow:10e2073a01080063:"},
  {"n":"temp","u":"Cel","v":23.1},
  {"n":"heat","u":"/","v":1},
  {"n":"fan","u":"/","v":0}
]"""
V_5_1_7_LIGHTS = b"""[
  {"bt":1.320078429e+09,"bu":"/","n":"2001:db8::3","v":0.5},
  {"n":"2001:db8::4","v":0.5},
  {"n":"2001:db8::3","t":0.1,"v":0},
  {"n":"2001:db8::4","t":0.1,"v":0}
]"""
V_6_CBOR = bytes.fromhex(
    """
    87 a7 21 78 1b 75 72 6e 3a 64 65 76 3a 6f 77 3a
    31 30 65 32 30 37 33 61 30 31 30 38 30 30 36 3a
    22 fb 41 d3 03 a1 5b 00 10 62 23 61 41 20 05 00
    67 76 6f 6c 74 61 67 65 01 61 56 02 fb 40 5e 06
    66 66 66 66 66 a3 00 67 63 75 72 72 65 6e 74 06
    24 02 fb 3f f3 33 33 33 33 33 33 a3 00 67 63 75
    72 72 65 6e 74 06 23 02 fb 3f f4 cc cc cc cc cc
    cd a3 00 67 63 75 72 72 65 6e 74 06 22 02 fb 3f
    f6 66 66 66 66 66 66 a3 00 67 63 75 72 72 65 6e
    74 06 21 02 f9 3e 00 a3 00 67 63 75 72 72 65 6e
    74 06 20 02 fb 3f f9 99 99 99 99 99 9a a3 00 67
    63 75 72 72 65 6e 74 06 00 02 fb 3f fb 33 33 33
    33 33 33
    """
)
"""Section 6: the 5.1.2 example with base time as a CBOR dump (0xc3 = 195 bytes)."""

VERBATIM: list[tuple[str, bytes, TopicKind, RejectReason, int | None]] = [
    # section, payload, kind, reason at the test clock, the example's own time (ms) or None when it has none
    ("5.1.1", V_5_1_1, TopicKind.SENML, R.UNKNOWN_METRIC, None),
    ("5.1.2 now", V_5_1_2_NOW, TopicKind.SENML, R.UNKNOWN_METRIC, None),
    ("5.1.2 timed", V_5_1_2_TIMED, TopicKind.SENML, R.TIMESTAMP_PAST, 1_276_020_076_001),
    ("5.1.2 stream", V_5_1_2_STREAM, TopicKind.SENML, R.TIMESTAMP_PAST, 1_320_067_544_000),
    ("5.1.3", V_5_1_3, TopicKind.SENML, R.TIMESTAMP_PAST, 1_320_067_644_000),
    ("5.1.4", V_5_1_4, TopicKind.SENML, R.TIMESTAMP_PAST, 1_320_067_614_000),
    ("5.1.5", V_5_1_5, TopicKind.SENML, R.UNKNOWN_METRIC, None),
    ("5.1.6", V_5_1_6, TopicKind.SENML, R.TIMESTAMP_PAST, 1_320_078_429_000),
    ("5.1.7 thermostat", V_5_1_7_THERMOSTAT, TopicKind.SENML, R.UNKNOWN_METRIC, None),
    ("5.1.7 lights", V_5_1_7_LIGHTS, TopicKind.SENML, R.TIMESTAMP_PAST, 1_320_078_429_100),
    ("6 (CBOR)", V_6_CBOR, TopicKind.SENML_CBOR, R.TIMESTAMP_PAST, 1_276_020_076_001),
]


def test_the_cbor_dump_is_the_json_example() -> None:
    assert len(V_6_CBOR) == 0xC3
    expected = cbor2.loads(to_cbor(V_5_1_2_TIMED))
    expected[-1] = {0: "current", 6: 0, 2: 1.7}  # the dump writes the last record's zero time; JSON leaves it out
    assert cbor2.loads(V_6_CBOR) == expected  # and 1.5 as a half float: same values, other bytes


@pytest.mark.parametrize(("section", "payload", "kind", "reason", "own_time"), VERBATIM, ids=[v[0] for v in VERBATIM])
def test_verbatim_examples_get_the_reason_they_deserve(
    section: str, payload: bytes, kind: TopicKind, reason: RejectReason, own_time: int | None
) -> None:
    outcome = parse(payload, WEATHER, kind)
    assert outcome.readings == []
    assert {r.reason for r in outcome.rejections} == {reason}, outcome.rejections
    if own_time is not None:  # with the gateway clock at the example's time: its names name no registry metric
        at_its_time = parse(payload, WEATHER, kind, now_ms=own_time)
        assert at_its_time.readings == []
        assert {r.reason for r in at_its_time.rejections} == {R.UNKNOWN_METRIC}, at_its_time.rejections
    if kind is TopicKind.SENML:
        assert parse(to_cbor(payload), WEATHER, TopicKind.SENML_CBOR) == outcome


def test_a_foreign_name_is_an_unknown_metric_and_says_what_names_look_like() -> None:
    (rejection,) = parse(V_5_1_1, WEATHER).rejections
    assert rejection.detail == (
        "record 0 (t=1764390000123): name 'urn:dev:ow:10e2073a01080063' names no registry metric: names are "
        "'{metric}', 'ws-000001:{metric}' or 'urn:dev:city:ws-000001:{metric}'"
    )


# ----------------------------------------------------------------------------------------------- adapted
def pack(*records: dict[str, Any]) -> bytes:
    return json.dumps(list(records)).encode()


URN = "urn:dev:city:"
A_5_1_1 = pack({"n": f"{URN}{WEATHER}:temperature", "u": "Cel", "v": 23.1})
A_5_1_2_NOW = pack(
    {"bn": f"{URN}{METER}:", "n": "power", "u": "kW", "v": 120.1},  # voltage (V) -> power (kW)
    {"n": "battery", "u": "%EL", "v": 1.2},  # current (A) -> battery (%EL)
)
A_5_1_2_TIMED = pack(
    {"bn": f"{URN}{METER}:", "bt": BT, "bu": "%EL", "bver": 5, "n": "power", "u": "kW", "v": 120.1},
    *({"n": "battery", "t": t, "v": v} for t, v in [(-5, 1.2), (-4, 1.3), (-3, 1.4), (-2, 1.5), (-1, 1.6)]),
    {"n": "battery", "v": 1.7},
)
A_5_1_2_STREAM = pack(  # the base name names the sensor: records have no names
    {"bn": f"{URN}{WEATHER}:humidity", "bt": BT, "bu": "%RH", "v": 21.2},
    *({"t": t, "v": v} for t, v in [(10, 21.3), (20, 21.4), (30, 21.4), (40, 21.5), (50, 21.5), (60, 21.5)]),
    {"t": 70, "v": 21.6},
    {"t": 80, "v": 21.7},
)
_POSITIONS = [(0, 20, 24.30621, 60.07965), (60, 20.3, 24.30622, 60.07965), (120, 20.7, 24.30623, 60.07966)]
A_5_1_3 = pack(  # %RH -> humidity, lon -> temperature (Cel), lat -> wind_speed (m/s), %EL -> battery
    {"bn": f"{URN}{WEATHER}:", "bt": BT, "bu": "%RH", "n": "humidity", "v": 20},
    {"n": "temperature", "u": "Cel", "v": 24.30621},
    {"n": "wind_speed", "u": "m/s", "v": 60.07965},
    *(
        record
        for t, rh, lon, lat in _POSITIONS[1:]
        for record in (
            {"n": "humidity", "t": t, "v": rh},
            {"n": "temperature", "u": "Cel", "t": t, "v": lon},
            {"n": "wind_speed", "u": "m/s", "t": t, "v": lat},
        )
    ),
    {"n": "battery", "u": "%EL", "t": 150, "v": 98},
    {"n": "humidity", "t": 180, "v": 21.2},
    {"n": "temperature", "u": "Cel", "t": 180, "v": 24.30628},
    {"n": "wind_speed", "u": "m/s", "t": 180, "v": 60.07967},
)
_RESOLVED_UNITS = {"humidity": "%RH", "temperature": "Cel", "wind_speed": "m/s", "battery": "%EL"}
A_5_1_4 = pack(  # the resolved form of A_5_1_3: full names, absolute times, every unit, no base fields
    *(
        {"n": f"{URN}{WEATHER}:{name}", "u": _RESOLVED_UNITS[name], "t": BT + record.get("t", 0), "v": record["v"]}
        for record in json.loads(A_5_1_3)
        for name in [record["n"]]
    )
)
A_5_1_5 = pack(  # temp -> battery, label -> message; an info display has no boolean or data metric
    {"bn": f"{URN}{DISPLAY}:", "n": "battery", "u": "%EL", "v": 23.1},
    {"n": "message", "vs": "Machine Room"},
)
A_5_1_6 = [  # one pack per device: a topic carries one device
    (WEATHER, pack({"bn": f"{URN}{WEATHER}:", "bt": BT, "n": "temperature", "u": "Cel", "v": 25.2},
                   {"n": "humidity", "u": "%RH", "v": 30})),
    (WEATHER_2, pack({"bn": f"{URN}{WEATHER_2}:", "bt": BT, "n": "temperature", "u": "Cel", "v": 12.3},
                     {"n": "humidity", "u": "%RH", "v": 67})),
]  # fmt: skip
A_5_1_7_THERMOSTAT = pack(  # temp -> lamp_power (W), heat -> lamp_on (a boolean), fan -> dim_level (%)
    {"bn": f"{URN}{LIGHT}:"},
    {"n": "lamp_power", "u": "W", "v": 23.1},
    {"n": "lamp_on", "vb": True},
    {"n": "dim_level", "u": "%", "v": 0},
)
A_5_1_7_LIGHTS = pack(  # two lights dimmed to 50 %, then off 100 ms later: one light's dim_level
    {"bt": BT, "bu": "%", "n": f"{URN}{LIGHT}:dim_level", "v": 50},
    {"n": f"{URN}{LIGHT}:dim_level", "t": 0.1, "v": 0},
)


def _weather(offset_s: int, **values: Value) -> Reading:
    return Reading(WEATHER, None, NOW_MS + offset_s * 1000, values)


WEATHER_READINGS = [
    *(_weather(t, humidity=rh, temperature=lon, wind_speed=lat) for t, rh, lon, lat in _POSITIONS),
    _weather(150, battery=98.0),
    _weather(180, humidity=21.2, temperature=24.30628, wind_speed=60.07967),
]
ADAPTED: list[tuple[str, str, bytes, list[Reading]]] = [
    ("5.1.1", WEATHER, A_5_1_1, [Reading(WEATHER, None, NOW_MS, {"temperature": 23.1})]),
    ("5.1.2 now", METER, A_5_1_2_NOW, [Reading(METER, None, NOW_MS, {"power": 120.1, "battery": 1.2})]),
    (
        "5.1.2 timed",
        METER,
        A_5_1_2_TIMED,
        [Reading(METER, None, NOW_MS + t * 1000, {"battery": 1.2 + (t + 5) / 10}) for t in range(-5, 0)]
        + [Reading(METER, None, NOW_MS, {"power": 120.1, "battery": 1.7})],
    ),
    (
        "5.1.2 stream",
        WEATHER,
        A_5_1_2_STREAM,
        [
            Reading(WEATHER, None, NOW_MS + t * 1000, {"humidity": v})
            for t, v in [
                (0, 21.2),
                (10, 21.3),
                (20, 21.4),
                (30, 21.4),
                (40, 21.5),
                (50, 21.5),
                (60, 21.5),
                (70, 21.6),
                (80, 21.7),
            ]
        ],
    ),
    ("5.1.3", WEATHER, A_5_1_3, WEATHER_READINGS),
    ("5.1.4", WEATHER, A_5_1_4, WEATHER_READINGS),
    ("5.1.5", DISPLAY, A_5_1_5, [Reading(DISPLAY, None, NOW_MS, {"battery": 23.1, "message": "Machine Room"})]),
    (
        "5.1.7 thermostat",
        LIGHT,
        A_5_1_7_THERMOSTAT,
        [Reading(LIGHT, None, NOW_MS, {"lamp_power": 23.1, "lamp_on": True, "dim_level": 0})],
    ),
    (
        "5.1.7 lights",
        LIGHT,
        A_5_1_7_LIGHTS,
        [Reading(LIGHT, None, NOW_MS, {"dim_level": 50}), Reading(LIGHT, None, NOW_MS + 100, {"dim_level": 0})],
    ),
]


def _time(reading: Reading) -> int:
    return reading.ts_ms


def _rounded(readings: list[Reading]) -> list[Reading]:
    """Times as parsed; float values rounded to 9 digits (1.2 + 0.3 is not 1.5 in binary)."""
    return [
        Reading(r.device_id, r.seq, r.ts_ms, {k: round(v, 9) if type(v) is float else v for k, v in r.values.items()})
        for r in readings
    ]


@pytest.mark.parametrize(("section", "device_id", "payload", "expected"), ADAPTED, ids=[a[0] for a in ADAPTED])
def test_adapted_examples_are_stored_from_json_and_cbor(
    section: str, device_id: str, payload: bytes, expected: list[Reading]
) -> None:
    for kind, body in ((TopicKind.SENML, payload), (TopicKind.SENML_CBOR, to_cbor(payload))):
        outcome = parse(body, device_id, kind)
        assert outcome.rejections == [], (kind, outcome.rejections)
        assert sorted(_rounded(outcome.readings), key=_time) == _rounded(expected), kind
        assert all(r.seq is None for r in outcome.readings)  # no seq record: loss unmeasured, not invented


def test_adapted_collection_of_resources_is_one_pack_per_device() -> None:
    for device_id, payload in A_5_1_6:
        (reading,) = parse(payload, device_id).readings
        assert reading.device_id == device_id
        assert set(reading.values) == {"temperature", "humidity"}


def test_times_the_examples_leave_relative_are_flagged_for_anchoring() -> None:
    assert parse(A_5_1_1, WEATHER).relative  # no time at all: "now"
    assert parse(A_5_1_5, DISPLAY).relative
    assert not parse(A_5_1_2_TIMED, METER).relative  # bt + t is absolute
    assert not parse(A_5_1_4, WEATHER).relative
    later = parse_message(
        topic(WEATHER, TopicKind.SENML),
        A_5_1_1,
        scheme=SCHEME,
        directory=VECTOR_DIRECTORY,
        now_ms=NOW_MS,
        anchor_ms=NOW_MS - 5_000,
    )
    assert later.readings == [Reading(WEATHER, None, NOW_MS - 5_000, {"temperature": 23.1})]


# ----------------------------------------------------------------------------------------------- sums
def test_registry_units_match_the_sum_divisors() -> None:
    for rate, (register, _divisor) in SUMS.items():  # a sum is stored as the register its rate accumulates into
        assert (METRICS[rate].temporality, METRICS[register].temporality) == (Temporality.GAUGE, Temporality.REGISTER)
    assert (METRICS["power"].unit, METRICS["energy"].unit, SUMS["power"]) == ("kW", "kWh", ("energy", 3600))
    assert (METRICS["water_flow"].unit, METRICS["water_volume"].unit, SUMS["water_flow"]) == (
        "l/s",
        "m3",
        ("water_volume", 1000),
    )


def test_a_meter_reports_power_and_its_sum_as_energy() -> None:
    """RFC 8428 section 10: the value is the power, the sum the energy used (kW s here)."""
    payload = pack(
        {"bn": f"{METER}:", "bt": BT, "bs": 4_500_000, "n": "power", "u": "kW", "v": 3.5, "s": 0},
        {"n": "power", "t": 60, "v": 3.6, "s": 216},
        {"n": "power", "t": 120, "s": 432},  # a sum and no value
    )
    for kind, body in ((TopicKind.SENML, payload), (TopicKind.SENML_CBOR, to_cbor(payload))):
        outcome = parse(body, METER, kind)
        assert outcome.rejections == []
        assert outcome.readings == [
            Reading(METER, None, NOW_MS, {"power": 3.5, "energy": 1250.0}),
            Reading(METER, None, NOW_MS + 60_000, {"power": 3.6, "energy": 1250.06}),
            Reading(METER, None, NOW_MS + 120_000, {"energy": 1250.12}),
        ]


def test_water_flow_sums_are_litres_stored_as_cubic_metres() -> None:
    payload = pack({"bn": f"{WATER}:", "bt": BT, "n": "water_flow", "s": 1234.5})
    assert parse(payload, WATER).readings == [Reading(WATER, None, NOW_MS, {"water_volume": 1.2345})]


@pytest.mark.parametrize(
    ("records", "reason", "detail"),
    [
        ([{"n": "battery", "s": 1}], R.UNKNOWN_METRIC, "the sum (s) of 'battery' is no registry metric"),
        ([{"n": "energy", "s": 1}], R.UNKNOWN_METRIC, "sums are stored for power (as energy), water_flow"),
        ([{"bs": 10, "n": "power", "v": 1}, {"n": "battery", "v": 50}], R.UNKNOWN_METRIC, "the sum (s) of 'battery'"),
        ([{"n": "power", "u": "W", "v": 3500, "s": 1}], R.UNIT_MISMATCH, "unit 'W', the registry has 'kW'"),
        ([{"bu": "W", "n": "power", "s": 1}], R.UNIT_MISMATCH, "(the sum is in kW s)"),
        ([{"n": "power", "s": -3600}], R.OUT_OF_RANGE, "energy: -1.0 below minimum 0"),
        ([{"n": "power", "s": 1, "bs": 10**400, "v": 1.5}], R.OUT_OF_RANGE, "beyond any energy value"),
        ([{"n": "power", "s": 1.5, "bs": 10**400}], R.OUT_OF_RANGE, "beyond any number"),
        ([{"n": "power", "v": 1}, {"n": "energy", "v": 2}, {"n": "power", "s": 3600}], R.DUPLICATE_KEY, "energy"),
    ],
)
def test_sums_the_registry_cannot_hold_are_refused(
    records: list[dict[str, Any]], reason: RejectReason, detail: str
) -> None:
    for record in records:
        record.setdefault("t", 0)
    records[0]["bt"] = BT
    outcome = parse(pack(*records), METER)
    assert outcome.readings == []
    assert [r.reason for r in outcome.rejections] == [reason]
    assert detail in outcome.rejections[0].detail


def test_a_zero_base_sum_ends_a_base_sums_scope() -> None:
    payload = pack({"bt": BT, "bs": 100, "n": "power", "s": 3500}, {"bs": 0, "n": "battery", "t": 1, "v": 50})
    assert parse(payload, METER).readings == [
        Reading(METER, None, NOW_MS, {"energy": 1.0}),
        Reading(METER, None, NOW_MS + 1000, {"battery": 50.0}),
    ]
