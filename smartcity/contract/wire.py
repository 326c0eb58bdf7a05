"""The JSON reading on ``{root}/v1/dev/{device_id}/reading``::

    {"dev": "aq-000123", "seq": 42, "ts": 1764390000123, "m": {"no2": 23.4, "pm25": 8.1}}

Two decoders. The fast one (:func:`typed_decoder`, one per device type) makes the metric names, value types and
ranges of the registry msgspec constraints, so a valid reading is decoded and validated in one C pass. The
checked one (:func:`decode_reading_json`) decodes any reading-shaped document, and the parser then validates it
value by value, naming the first problem. Both refuse unknown fields.

Duplicate keys: msgspec keeps the last of repeated keys, so their absence is proved cheaply. Every key/value
pair of a JSON object contributes exactly one ``:`` outside strings; when the payload holds exactly as many
colons as the decoded reading has pairs (4 + number of metrics), no key can be repeated. Any other payload
(colons inside strings, decode errors, NaN literals) takes the standard library's parser with a duplicate
check, which also classifies the problem precisely.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, cast

import msgspec
from msgspec import UNSET, UnsetType

from smartcity.city.model import DeviceType
from smartcity.contract.metrics import MetricKind, metrics_for
from smartcity.contract.reading import Reading, RejectReason
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
    """The contract's JSON form of ``reading``. Raises ValueError for NaN or infinite values (JSON has none) and
    for a reading without a sequence number (the JSON reading always carries one; SenML packs need not)."""
    if reading.seq is None:
        raise ValueError(f"a JSON reading needs a seq; {reading.device_id} at {reading.ts_ms} has none (use SenML)")
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


class TypedReading(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """Base of the per-device-type readings of the fast path; ``m`` is a struct of that type's metrics."""

    dev: str
    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    ts: int
    m: msgspec.Struct


def _typed_decoder(device_type: DeviceType) -> msgspec.json.Decoder[TypedReading]:
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
    reading = msgspec.defstruct(f"{device_type}_reading", [("m", metrics)], bases=(TypedReading,), **options)
    return msgspec.json.Decoder(reading)


_TYPED_DECODERS = {device_type: _typed_decoder(device_type) for device_type in DeviceType}


def typed_decoder(device_type: DeviceType) -> msgspec.json.Decoder[TypedReading]:
    """The fast path's decoder for ``device_type``: it accepts only readings whose schema, metric names, value
    types and ranges are all valid for the type (``dev`` and ``ts`` are not checked). Values decode in
    registry order, float metrics always as floats; a caller must still prove that no key repeated, see
    :func:`has_no_repeats`."""
    return _TYPED_DECODERS[device_type]


def has_no_repeats(payload: bytes, metrics: int) -> bool:
    """True when a payload that decoded to a reading with ``metrics`` metrics repeated no key: it holds exactly
    one ':' per key/value pair. (A ':' inside a string, only possible in ``dev`` for the typed decoders, makes
    the count differ: such a payload goes to the checked path, which finds the repeat or the odd ``dev``.)"""
    return payload.count(b":") == _TOP_LEVEL_PAIRS + metrics


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
    except UnicodeEncodeError:
        raise surrogate_key(document) from None


def surrogate_key(document: object) -> Invalid:
    """The rejection for a document whose object keys include a lone surrogate (a JSON escape such as ``\\ud800``
    can write one; it is not Unicode text, and msgspec fails with UnicodeEncodeError while naming it as an unknown
    field). Such a key is never a field of the contract: wrong-schema, naming it escaped."""
    pending, seen = [document], 0
    while pending and seen < 100_000:  # iterative: documents may nest as deep as the JSON parser allowed
        item = pending.pop()
        seen += 1
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and _SURROGATES.search(key):
                    return Invalid(RejectReason.WRONG_SCHEMA, f"key {_short(key)} (a lone surrogate) is not a field")
                pending.append(value)
        elif isinstance(item, list):
            pending += item
    return Invalid(RejectReason.WRONG_SCHEMA, "a key or string is not valid Unicode text (a lone surrogate)")


_SURROGATES = re.compile("[\ud800-\udfff]")


def _short(text: str, limit: int = 60) -> str:
    shown = repr(text) if limit <= 60 else text
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
