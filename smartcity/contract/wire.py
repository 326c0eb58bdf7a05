"""The JSON reading on ``{root}/v1/dev/{device_id}/reading``::

    {"dev": "aq-000123", "seq": 42, "ts": 1764390000123, "m": {"no2": 23.4, "pm25": 8.1}}

Decoding is typed (msgspec) and strict: unknown fields are refused and duplicate keys anywhere are refused.
msgspec itself keeps the last of duplicate keys, so :func:`decode_reading_json` proves their absence cheaply:
every key/value pair of a JSON object contributes exactly one ``:`` outside strings, so when the payload holds
exactly as many colons as the decoded reading has pairs (4 + number of metrics) no key can be repeated. Any other
payload (colons inside strings, decode errors, NaN literals) takes a slower exact path through the standard
library's parser, which also classifies the problem precisely.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, cast

import msgspec
from msgspec import UNSET, UnsetType

from smartcity.city.model import DeviceType
from smartcity.contract.metrics import MetricKind, metrics_for
from smartcity.contract.reading import Reading, RejectReason, Value
from smartcity.contract.validate import MAX_SEQ, Invalid

WireValue = float | int | bool | str | None
"""What a metric value may be on the wire before validation (null is refused later, as wrong-type)."""

_TOP_LEVEL_PAIRS = 4


class JsonReading(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """One reading as JSON. ``dev`` must equal the topic's device level."""

    dev: str
    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    """Per-device sequence number."""
    ts: int
    """Device time, milliseconds since the Unix epoch."""
    m: Annotated[dict[str, WireValue], msgspec.Meta(min_length=1)]
    """Metric name -> value; at least one."""


_DECODER = msgspec.json.Decoder(JsonReading)
_ENCODER = msgspec.json.Encoder()


def encode_reading_json(reading: Reading) -> bytes:
    """The contract's JSON form of ``reading``. Raises ValueError for NaN or infinite values (JSON has none)."""
    for name, value in reading.values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"metric {name!r} is {value}: JSON cannot carry non-finite numbers")
    values = cast(dict[str, WireValue], reading.values)  # a narrower dict, read-only here
    return _ENCODER.encode(JsonReading(reading.device_id, reading.seq, reading.ts_ms, values))


def decode_reading_json(payload: bytes) -> JsonReading:
    """Decode and schema-check a JSON reading; raise :class:`Invalid` (malformed-json, duplicate-key,
    wrong-schema). Values are not validated against the registry here."""
    try:
        reading = _DECODER.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return _decode_exact(payload)
    if payload.count(b":") != _TOP_LEVEL_PAIRS + len(reading.m):
        return _decode_exact(payload)
    return reading


class _TypedReading(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    dev: str
    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    ts: int
    m: msgspec.Struct


def _typed_decoder(device_type: DeviceType) -> msgspec.json.Decoder[_TypedReading]:
    """A decoder that accepts only readings valid for ``device_type``: metric names, types and ranges are
    msgspec constraints, checked in C while decoding. String metrics are left out (their character rules
    need the checked path)."""
    fields: list[tuple[str, Any, Any]] = []
    for name, spec in metrics_for(device_type).items():
        bounds = msgspec.Meta(ge=spec.minimum, le=spec.maximum)
        if spec.kind is MetricKind.FLOAT:
            fields.append((name, Annotated[float, bounds] | UnsetType, UNSET))
        elif spec.kind is MetricKind.INT:
            fields.append((name, Annotated[int, bounds] | UnsetType, UNSET))
        elif spec.kind is MetricKind.BOOL:
            fields.append((name, bool | UnsetType, UNSET))
    options: dict[str, Any] = {"frozen": True, "forbid_unknown_fields": True, "gc": False}
    metrics = msgspec.defstruct(f"{device_type}_metrics", fields, **options)
    reading = msgspec.defstruct(f"{device_type}_reading", [("m", metrics)], bases=(_TypedReading,), **options)
    return msgspec.json.Decoder(reading)


_TYPED_DECODERS = {device_type: _typed_decoder(device_type) for device_type in DeviceType}


def decode_valid_reading(payload: bytes, device_type: DeviceType) -> tuple[str, int, int, dict[str, Value]] | None:
    """The fast path: ``(dev, seq, ts, values)`` when ``payload`` is a reading whose schema, metric names, value
    types and ranges are all valid for ``device_type`` and no key repeats; None for anything else, which the
    caller then sends through the checked path to learn what is wrong. ``dev`` and ``ts`` are not checked here.
    Values come back in registry order; float metrics always as floats."""
    try:
        reading = _TYPED_DECODERS[device_type].decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    values: dict[str, Value] = msgspec.to_builtins(reading.m)  # leaves out the metrics not sent (UNSET)
    if not values or payload.count(b":") != _TOP_LEVEL_PAIRS + len(values):
        return None
    return reading.dev, reading.seq, reading.ts, values


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :func:`json.loads` that raises on a repeated key."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def loads_exact(payload: bytes) -> Any:
    """Parse JSON with the standard library, refusing duplicate keys and invalid UTF-8; NaN and Infinity
    literals and overflowing numbers become float NaN/inf so that validation can call them non-finite."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(RejectReason.MALFORMED_JSON, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        return json.loads(text, object_pairs_hook=refuse_duplicates)
    except _DuplicateKey as exc:
        raise Invalid(RejectReason.DUPLICATE_KEY, f"key {_short(exc.key)} appears more than once") from None
    except RecursionError:
        raise Invalid(RejectReason.MALFORMED_JSON, "nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing more than 4300 digits
        raise Invalid(RejectReason.MALFORMED_JSON, _short(str(exc), 120)) from None


def _decode_exact(payload: bytes) -> JsonReading:
    document = loads_exact(payload)
    try:
        return msgspec.convert(document, JsonReading)
    except msgspec.ValidationError as exc:
        raise Invalid(RejectReason.WRONG_SCHEMA, str(exc)) from None


def _short(text: str, limit: int = 60) -> str:
    shown = repr(text) if limit <= 60 else text
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
