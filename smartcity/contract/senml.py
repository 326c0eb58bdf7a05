"""SenML packs (RFC 8428) on ``.../senml`` (JSON) and ``.../senml-cbor`` (CBOR, integer labels).

This module holds the record model and the codecs; :mod:`smartcity.contract.records` resolves records (base
values, names, times, sums) and :mod:`smartcity.contract.parse` groups them by time into readings, each with at
most one record named ``seq`` (the platform's own devices send one; a plain RFC 8428 producer does not).

Encoders write compact packs: the base name and base time once, relative record times (omitted when zero),
no units (the registry fixes them), and in CBOR integral numbers as integers and floats in their shortest
exact width. A reading without a sequence number is written without a ``seq`` record.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import cbor2
import msgspec
from msgspec import UNSET, UnsetType

from smartcity.contract import cbor
from smartcity.contract.reading import Reading, RejectReason
from smartcity.contract.validate import Invalid, show
from smartcity.contract.wire import loads_exact, surrogate_key

Number = int | float

SEQ = "seq"
SENML_VERSION = 10
"""The highest version this contract reads (RFC 8428 section 4.4: a newer one MUST NOT be used)."""


class Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """One SenML record; every field optional. Labels as in JSON; CBOR uses :data:`CBOR_LABELS`."""

    bn: str | UnsetType = UNSET
    bt: Number | UnsetType = UNSET
    bu: str | UnsetType = UNSET
    bv: Number | UnsetType = UNSET
    bs: Number | UnsetType = UNSET
    bver: int | UnsetType = UNSET
    n: str | UnsetType = UNSET
    u: str | UnsetType = UNSET
    v: Number | UnsetType = UNSET
    vs: str | UnsetType = UNSET
    vb: bool | UnsetType = UNSET
    vd: str | UnsetType = UNSET
    """Data value as base64url text (RFC 8428 section 5: URL-safe alphabet, padding omitted); a CBOR byte string
    is carried here in that form, so that both representations resolve alike."""
    s: Number | UnsetType = UNSET
    t: Number | UnsetType = UNSET
    ut: Number | UnsetType = UNSET


CBOR_LABELS: dict[int, str] = {
    -1: "bver", -2: "bn", -3: "bt", -4: "bu", -5: "bv", -6: "bs", 0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s",
    6: "t", 7: "ut", 8: "vd",
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
        group: list[dict[Any, Any]] = [] if reading.seq is None else [{n: SEQ, v: reading.seq}]
        for name, value in reading.values.items():
            if isinstance(value, bool):
                group.append({n: name, vb: value})
            elif isinstance(value, str):
                group.append({n: name, vs: value})
            elif math.isfinite(value):
                group.append({n: name, v: _compact(value) if cbor_form else value})
            else:
                raise ValueError(f"metric {name!r} is {value}: SenML packs carry finite numbers only")
        if not group:
            raise ValueError(f"a reading of {device_id!r} at {reading.ts_ms} has no values")
        if offset:
            for record in group:
                record[t] = _seconds(offset)
        if not records:  # the base fields go first in the first record
            base: dict[Any, Any] = {key["bn"]: f"{device_id}:"} if base_name else {}
            base[key["bt"]] = _seconds(base_ms)
            group[0] = base | group[0]
        records += group
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
            fields = {CBOR_LABELS[label]: value for label, value in record.items()}
        except KeyError as exc:
            raise Invalid(RejectReason.WRONG_SCHEMA, f"record {index}: unknown label {show(exc.args[0])}") from None
        if _DATA in record:
            fields["vd"] = _data_text(record[_DATA], index)
        named.append(fields)
    return _convert(named)


_DATA = 8
"""The CBOR label of ``vd``."""


def _data_text(value: object, index: int) -> str:
    if not isinstance(value, bytes):
        raise Invalid(RejectReason.WRONG_SCHEMA, f"record {index}: vd is a byte string in CBOR, got {show(value)}")
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


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
    except UnicodeEncodeError:
        raise surrogate_key(document) from None


def _name_records(detail: str) -> str:
    """``... - at `$[3].v``` -> ``... - at record 3, field v``."""
    head, sep, where = detail.partition(" - at `$[")
    if not sep:
        return detail
    index, _, rest = where.partition("]")
    field = rest.strip("`.")
    return f"record {index}{', field ' + field if field else ''}: {head}"
