"""parse_message hands the encoder values whose Python types match the registry exactly, whatever the wire
carried (JSON integers for float metrics, CBOR integers or half floats): that is what lets the gateway use
``LineEncoder.encode_parsed``, which does not re-check them."""

from __future__ import annotations

import msgspec
from hypothesis import given

from smartcity.contract.metrics import METRICS, MetricKind
from smartcity.contract.reading import Reading, Value
from smartcity.contract.senml import encode_senml_cbor, encode_senml_json
from smartcity.contract.topics import TopicKind
from smartcity.influx.lineprotocol import LineEncoder
from tests.support.contract import DIRECTORY, PROPERTY_SETTINGS, parse, valid_readings

_PYTHON_TYPE = {MetricKind.FLOAT: float, MetricKind.INT: int, MetricKind.BOOL: bool, MetricKind.STRING: str}


def _integral_floats_as_ints(values: dict[str, Value]) -> dict[str, Value]:
    """What a device may well send: 21.0 written as 21."""
    return {k: int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else v for k, v in values.items()}


def _json_reading(reading: Reading) -> bytes:
    body = {"dev": reading.device_id, "seq": reading.seq, "ts": reading.ts_ms, "m": reading.values}
    return msgspec.json.encode(body)


def _check(reading: Reading) -> None:
    for name, value in reading.values.items():
        assert type(value) is _PYTHON_TYPE[METRICS[name].kind], (name, value)
    encoder = LineEncoder(DIRECTORY)
    assert encoder.encode_parsed(reading) == LineEncoder(DIRECTORY).encode(reading)


@PROPERTY_SETTINGS
@given(reading=valid_readings())
def test_parsed_values_have_the_registry_types_in_every_wire_format(reading: Reading) -> None:
    loose = Reading(reading.device_id, reading.seq, reading.ts_ms, _integral_floats_as_ints(reading.values))
    payloads = [
        (TopicKind.READING, _json_reading(loose)),
        (TopicKind.SENML, encode_senml_json([loose])),
        (TopicKind.SENML_CBOR, encode_senml_cbor([loose])),
    ]
    for kind, payload in payloads:
        outcome = parse(payload, reading.device_id, kind)
        assert outcome.rejections == [], (kind, outcome.rejections)
        assert len(outcome.readings) == 1
        _check(outcome.readings[0])


def test_a_json_integer_for_a_float_metric_is_written_as_a_float_field() -> None:
    outcome = parse(b'{"dev":"aq-000123","seq":1,"ts":1764390000000,"m":{"no2":21,"battery":80}}')
    (reading,) = outcome.readings
    assert type(reading.values["no2"]) is float
    (line, _vitals) = LineEncoder(DIRECTORY).encode_parsed(reading)
    assert " no2=21.0,seq=1i " in line
