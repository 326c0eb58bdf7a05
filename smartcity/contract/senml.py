"""SenML packs (RFC 8428) on ``.../senml`` (JSON) and ``.../senml-cbor`` (CBOR, integer labels).

A pack maps onto readings: records are resolved (base name + name, base time + time, base unit, base value),
then grouped by resolved time; each group is one reading and carries exactly one record named ``seq``.
Names resolve to ``{metric}``, ``{device_id}:{metric}`` or ``urn:dev:city:{device_id}:{metric}``; the base name
is optional because a LoRaWAN network server already knows the device from the radio layer.

Encoders write compact packs: the base name and base time once, relative record times (omitted when zero),
no units (the registry fixes them), and in CBOR integral numbers as integers and floats in their shortest
exact width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import msgspec
from msgspec import UNSET, UnsetType

from smartcity.contract import cbor
from smartcity.contract.reading import Reading, RejectReason
from smartcity.contract.validate import Invalid, show
from smartcity.contract.wire import loads_exact

Number = int | float

URN_PREFIX = "urn:dev:city:"
SEQ = "seq"
SENML_VERSION = 10
RELATIVE_LIMIT_MS = 2**28 * 1000
"""Resolved times below 2**28 s are relative to now (RFC 8428 section 4.5.3)."""


class Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """One SenML record; every field optional. Labels as in JSON; CBOR uses :data:`CBOR_LABELS`."""

    bn: str | UnsetType = UNSET
    bt: Number | UnsetType = UNSET
    bu: str | UnsetType = UNSET
    bv: Number | UnsetType = UNSET
    bver: int | UnsetType = UNSET
    n: str | UnsetType = UNSET
    u: str | UnsetType = UNSET
    v: Number | UnsetType = UNSET
    vs: str | UnsetType = UNSET
    vb: bool | UnsetType = UNSET
    vd: bytes | UnsetType = UNSET
    s: Number | UnsetType = UNSET
    t: Number | UnsetType = UNSET
    ut: Number | UnsetType = UNSET


CBOR_LABELS: dict[int, str] = {
    -1: "bver", -2: "bn", -3: "bt", -4: "bu", -5: "bv", 0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t",
    7: "ut", 8: "vd",
}  # fmt: skip
_CBOR_KEYS = {name: label for label, name in CBOR_LABELS.items()}
_PACK_DECODER = msgspec.json.Decoder(list[Record])
_ENCODER = msgspec.json.Encoder()


# ----------------------------------------------------------------------------------------------------- encoding
def _seconds(ms: int) -> Number:
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _compact(value: Number) -> Number:
    """Integral floats as integers: fewer bytes in CBOR; decoding turns them back into floats for float metrics."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _pack(readings: Sequence[Reading], base_name: bool, cbor_form: bool) -> list[dict[Any, Any]]:
    if not readings:
        raise ValueError("a SenML pack needs at least one reading")
    device_id = readings[0].device_id
    base_ms = readings[0].ts_ms
    key = _CBOR_KEYS if cbor_form else {name: name for name in _CBOR_KEYS}
    n, v, vs, vb, t = key["n"], key["v"], key["vs"], key["vb"], key["t"]
    records: list[dict[Any, Any]] = []
    for reading in readings:
        if reading.device_id != device_id:
            raise ValueError(f"one pack carries one device: {reading.device_id!r} differs from {device_id!r}")
        offset = reading.ts_ms - base_ms
        seq_record: dict[Any, Any] = {}
        if not records:
            if base_name:
                seq_record[key["bn"]] = f"{device_id}:"
            seq_record[key["bt"]] = _seconds(base_ms)
        seq_record[n] = SEQ
        seq_record[v] = reading.seq
        if offset:
            seq_record[t] = _seconds(offset)
        records.append(seq_record)
        for name, value in reading.values.items():
            if isinstance(value, bool):
                record = {n: name, vb: value}
            elif isinstance(value, str):
                record = {n: name, vs: value}
            elif math.isfinite(value):
                record = {n: name, v: _compact(value) if cbor_form else value}
            else:
                raise ValueError(f"metric {name!r} is {value}: SenML packs carry finite numbers only")
            if offset:
                record[t] = _seconds(offset)
            records.append(record)
    return records


def encode_senml_json(readings: Sequence[Reading], *, base_name: bool = True) -> bytes:
    """A SenML JSON pack (application/senml+json) of one device's readings."""
    return _ENCODER.encode(_pack(readings, base_name, cbor_form=False))


def encode_senml_cbor(readings: Sequence[Reading], *, base_name: bool = True) -> bytes:
    """A SenML CBOR pack (application/senml+cbor, integer labels) of one device's readings."""
    return bytes(cbor2.dumps(_pack(readings, base_name, cbor_form=True), canonical=True))


# ----------------------------------------------------------------------------------------------------- decoding
def decode_senml_json(payload: bytes, *, max_records: int | None = None) -> list[Record]:
    """Decode a JSON pack; raise :class:`Invalid` (malformed-json, duplicate-key, wrong-schema, and
    too-many-records when ``max_records`` is given)."""
    try:
        records: list[Record] | None = _PACK_DECODER.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        records = None
    if records is not None:
        check_record_count(len(records), max_records)
    # The duplicate-key proof of the JSON reading, extended to strings that hold colons (base names do):
    # without escapes, the payload has one ':' per key/value pair plus the colons inside its strings, and
    # re-encoding the decoded pack counts exactly what a payload without repeated keys would have.
    if records is None or b"\\" in payload or payload.count(b":") != _ENCODER.encode(records).count(b":"):
        document = loads_exact(payload)
        if isinstance(document, list):
            check_record_count(len(document), max_records)
        records = _convert(document)
    return records


def decode_senml_cbor(payload: bytes, *, max_records: int | None = None) -> list[Record]:
    """Decode a CBOR pack; raise :class:`Invalid` (malformed-cbor, duplicate-key, wrong-schema, and
    too-many-records when ``max_records`` is given)."""
    fast = cbor.decode_fast(payload)
    if fast is None and max_records is not None:
        declared = cbor.declared_array_length(payload)
        if declared is not None and declared > max_records:  # refused before the slow decoder sees it
            check_record_count(declared, max_records)
    document: object = decode_cbor_strict(payload) if fast is None else fast
    if not isinstance(document, list):
        raise Invalid(RejectReason.WRONG_SCHEMA, "a SenML pack is an array of records")
    check_record_count(len(document), max_records)
    named: list[object] = []
    for index, record in enumerate(document):
        if not isinstance(record, dict):
            raise Invalid(RejectReason.WRONG_SCHEMA, f"record {index} is not a map")
        try:
            named.append({CBOR_LABELS[label]: value for label, value in record.items()})
        except KeyError as exc:
            raise Invalid(RejectReason.WRONG_SCHEMA, f"record {index}: unknown label {show(exc.args[0])}") from None
    return _convert(named)


def decode_cbor_strict(payload: bytes) -> object:
    """The strict decoder, its errors turned into rejection reasons."""
    try:
        return cbor.decode(payload, max_depth=2)
    except cbor.CborDuplicateKey as exc:
        raise Invalid(RejectReason.DUPLICATE_KEY, str(exc)) from None
    except cbor.CborShapeError as exc:
        raise Invalid(RejectReason.WRONG_SCHEMA, str(exc)) from None
    except cbor.CborError as exc:
        raise Invalid(RejectReason.MALFORMED_CBOR, str(exc)) from None


def check_record_count(count: int, max_records: int | None) -> None:
    """Refuse an empty pack, and one with more than ``max_records`` records."""
    if count == 0:
        raise Invalid(RejectReason.EMPTY_PACK, "the pack holds no records")
    if max_records is not None and count > max_records:
        raise Invalid(RejectReason.TOO_MANY_RECORDS, f"{count} records, the limit is {max_records}")


def _convert(document: object) -> list[Record]:
    try:
        return msgspec.convert(document, list[Record])
    except msgspec.ValidationError as exc:
        detail = str(exc).replace("`$`", "the pack")
        raise Invalid(RejectReason.WRONG_SCHEMA, _name_records(detail)) from None


def _name_records(detail: str) -> str:
    """``... - at `$[3].v``` -> ``... - at record 3, field v``."""
    head, sep, where = detail.partition(" - at `$[")
    if not sep:
        return detail
    index, _, rest = where.partition("]")
    field = rest.strip("`.")
    return f"record {index}{', field ' + field if field else ''}: {head}"


# --------------------------------------------------------------------------------------------------- resolution
@dataclass(slots=True)
class Resolved:
    """One record after base-value resolution. ``problem`` set means its reading (time group) is refused."""

    index: int
    name: str
    """Metric name (the part after the device prefix), ``seq`` for the sequence record."""
    time_ms: int
    unit: str | None
    value: object
    problem: Invalid | None = None


def _ms(value: Number, label: str, index: int) -> int:
    if type(value) is int:
        return value * 1000
    if not math.isfinite(value):
        raise Invalid(RejectReason.NON_FINITE, f"record {index}: {label} is {value}")
    scaled = value * 1000
    if not math.isfinite(scaled):  # finite seconds, but beyond any float count of milliseconds
        reason = RejectReason.TIMESTAMP_FUTURE if value > 0 else RejectReason.TIMESTAMP_PAST
        raise Invalid(reason, f"record {index}: {label} {value} s is beyond any timestamp")
    return round(scaled)


def check_base_name(base_name: str, device_id: str) -> None:
    """The base name, when present, must name the topic's device."""
    if base_name not in (f"{device_id}:", f"{URN_PREFIX}{device_id}:"):
        raise Invalid(
            RejectReason.TOPIC_MISMATCH,
            f"base name {show(base_name)} is not '{device_id}:' or '{URN_PREFIX}{device_id}:' (the topic's device)",
        )


def resolve(records: Sequence[Record], device_id: str, now_ms: int) -> list[Resolved]:
    """Apply base values record by record (RFC 8428 section 4.6). Problems of the whole pack raise
    :class:`Invalid`; problems of one record are attached to it."""
    base_name, base_ms, base_unit = "", 0, None
    base_value: Number = 0
    resolved: list[Resolved] = []
    for index, record in enumerate(records):
        if record.bn is not UNSET:
            check_base_name(record.bn, device_id)
            base_name = record.bn
        if record.bt is not UNSET:
            base_ms = _ms(record.bt, "bt", index)
        if record.bu is not UNSET:
            base_unit = record.bu
        if record.bv is not UNSET:
            base_value = record.bv
        if record.bver is not UNSET and record.bver > SENML_VERSION:
            raise Invalid(RejectReason.WRONG_SCHEMA, f"record {index}: SenML version {record.bver} is not supported")
        time_ms = base_ms if record.t is UNSET else base_ms + _ms(record.t, "t", index)
        if time_ms < RELATIVE_LIMIT_MS:
            time_ms += now_ms
        unit = base_unit if record.u is UNSET else record.u
        name, value = record.n, record.v
        if (
            name and ":" not in name  # not UNSET, not empty: the metric name itself (a base name was checked)
            and value is not UNSET
            and record.vs is UNSET and record.vb is UNSET and record.vd is UNSET and record.s is UNSET
        ):  # fmt: skip
            resolved.append(Resolved(index, name, time_ms, unit, value + base_value if base_value else value))
            continue
        try:
            metric = _metric_name(base_name + ("" if record.n is UNSET else record.n), device_id)
            resolved.append(Resolved(index, metric, time_ms, unit, _value(record, base_value)))
        except Invalid as problem:
            resolved.append(Resolved(index, "", time_ms, unit, None, problem))
    return resolved


def _metric_name(full: str, device_id: str) -> str:
    prefix, sep, metric = full.rpartition(":")
    if sep and prefix not in (device_id, f"{URN_PREFIX}{device_id}"):
        raise Invalid(RejectReason.TOPIC_MISMATCH, f"name {show(full)} is not one of device {device_id}")
    if not metric:
        raise Invalid(RejectReason.WRONG_SCHEMA, "record has no name")
    return metric


def _value(record: Record, base_value: Number) -> object:
    if record.s is not UNSET:
        raise Invalid(RejectReason.WRONG_SCHEMA, "sum values (s) are not part of this contract")
    given = [value for value in (record.v, record.vs, record.vb, record.vd) if value is not UNSET]
    if len(given) != 1:
        raise Invalid(RejectReason.WRONG_SCHEMA, f"record has {len(given)} values (v, vs, vb, vd), needs exactly 1")
    if record.v is not UNSET:
        return record.v + base_value if base_value else record.v
    return given[0]
