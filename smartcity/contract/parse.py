"""``parse_message``: one MQTT telemetry message in, valid readings and specific rejections out.

Never raises for any topic or payload. A problem of the whole message (bad topic, oversized, malformed, wrong
schema, unknown device ...) yields one :class:`Rejection`; in a SenML pack every reading (time group) is accepted
or rejected on its own, so valid readings around a bad one are kept. District, facility and type always come
from the :class:`DeviceDirectory`, never from the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import msgspec

from smartcity.city.directory import DeviceDirectory, DeviceInfo
from smartcity.contract.messages import Birth, Status
from smartcity.contract.reading import ParseOutcome, Reading, Rejection, RejectReason, Value
from smartcity.contract.records import SEQ, Resolved, resolve
from smartcity.contract.senml import Record, decode_senml_cbor, decode_senml_json
from smartcity.contract.topics import TopicError, TopicKind, TopicScheme
from smartcity.contract.validate import (
    RULES,
    Invalid,
    check_metric,
    check_seq,
    check_timestamp,
    check_value,
    element,
    show,
)
from smartcity.contract.wire import TypedReading, decode_reading_json, has_no_repeats, typed_decoder

_MINUTE_MS = 60_000
_DAY_MS = 24 * 60 * _MINUTE_MS


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds applied before and after decoding."""

    max_payload_bytes: int = 65_536
    """Larger payloads are refused (oversized) before any decoding."""
    max_records: int = 1024
    """Most records in one SenML pack."""
    max_future_ms: int = 5 * _MINUTE_MS
    """How far a device timestamp may be ahead of the gateway clock."""
    max_past_ms: int = 31 * _DAY_MS
    """How old a device timestamp may be (narrowband backlogs arrive late)."""


_DEFAULT_LIMITS = ParseLimits()
_Document = TypeVar("_Document", Status, Birth)


def parse_message(
    topic: str,
    payload: bytes,
    *,
    scheme: TopicScheme,
    directory: DeviceDirectory,
    now_ms: int,
    limits: ParseLimits = _DEFAULT_LIMITS,
    anchor_ms: int | None = None,
) -> ParseOutcome:
    """Parse and validate one telemetry message (``reading``, ``senml``, ``senml-cbor`` topics).

    ``now_ms`` is the gateway clock, for the acceptance window. SenML times that are relative or absent count
    from ``anchor_ms`` (default: ``now_ms``); the outcome's ``relative`` says whether any did, so that the
    gateway can parse a redelivery against the anchor of its first receipt (docs/CONTRACT.md, "Records with
    relative or no time")."""
    info: DeviceInfo | None
    decoder: msgspec.json.Decoder[TypedReading] | None
    cached = _TOPICS.get(topic)
    if cached is not None and cached[0] is scheme and cached[1] is directory and cached[6] == directory.generation:
        device_id, kind, info, decoder = cached[2], cached[3], cached[4], cached[5]
    else:
        try:
            address = scheme.parse(topic)
        except TopicError as exc:
            return _refuse(RejectReason.BAD_TOPIC, str(exc), None)
        device_id, kind = address.device_id, address.kind
        info = directory.get(device_id)
        decoder = None
        if info is not None:  # unknown devices are not cached: their topics come from anyone
            decoder = typed_decoder(info.device_type)
            if len(_TOPICS) >= _TOPIC_CACHE_SIZE:
                _TOPICS.clear()
            _TOPICS[topic] = (scheme, directory, device_id, kind, info, decoder, directory.generation)
    if len(payload) > limits.max_payload_bytes:
        detail = f"payload of {len(payload)} bytes exceeds the limit of {limits.max_payload_bytes}"
        return _refuse(RejectReason.OVERSIZED, detail, device_id)
    if kind is _READING and decoder is not None:
        # The fast path: a reading that is valid in every respect msgspec can check while decoding.
        try:
            typed = decoder.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError):
            typed = None
        if typed is not None and typed.dev == device_id:
            values = msgspec.to_builtins(typed.m)  # leaves out the metrics that were not sent
            ts = typed.ts
            if (
                values
                and now_ms - limits.max_past_ms <= ts <= now_ms + limits.max_future_ms
                and has_no_repeats(payload, len(values))
            ):
                return ParseOutcome([Reading(device_id, typed.seq, ts, values)], [])  # [] beats default_factory
    try:
        if kind is _READING:  # JSON readings carry absolute times only: never relative
            if info is None:
                raise _unknown(device_id)
            return ParseOutcome([_checked_json_reading(payload, info, now_ms, limits)])
        if kind is not _SENML and kind is not _SENML_CBOR:
            raise Invalid(RejectReason.WRONG_SCHEMA, f"{kind} messages are not telemetry")
        if info is None:
            raise _unknown(device_id)
        decode = decode_senml_json if kind is _SENML else decode_senml_cbor
        records = decode(payload, max_records=limits.max_records)
        return _senml_pack(records, info, now_ms, now_ms if anchor_ms is None else anchor_ms, limits)
    except Invalid as problem:
        return _refuse(problem.reason, problem.detail, device_id)


_READING, _SENML, _SENML_CBOR = TopicKind.READING, TopicKind.SENML, TopicKind.SENML_CBOR
_TOPIC_CACHE_SIZE = 1 << 18
_TOPICS: dict[
    str, tuple[TopicScheme, DeviceDirectory, str, TopicKind, DeviceInfo, msgspec.json.Decoder[TypedReading], int]
] = {}
"""Topic -> (scheme, directory, device id, kind, device info, the type's fast decoder) for topics already seen:
the same topics repeat all day, and parsing one costs more than validating its reading. Valid only for the same
scheme and directory objects (a directory is read-only; a reloaded city is a new object). Bounded: cleared when
full."""


def _unknown(device_id: str) -> Invalid:
    return Invalid(RejectReason.UNKNOWN_DEVICE, f"device {device_id} is not in the registry")


def _refuse(reason: RejectReason, detail: str, device_id: str | None) -> ParseOutcome:
    return ParseOutcome(rejections=[Rejection(reason, detail, device_id)])


def _checked_json_reading(payload: bytes, info: DeviceInfo, now_ms: int, limits: ParseLimits) -> Reading:
    """The reading, or :class:`Invalid` naming the first problem. Slower than the fast path in
    :func:`parse_message`, which takes every valid reading without string metrics."""
    message = decode_reading_json(payload)
    if message.dev != info.device_id:
        raise Invalid(RejectReason.TOPIC_MISMATCH, f"dev {show(message.dev)} differs from the topic's device")
    check_timestamp(message.ts, now_ms, limits.max_future_ms, limits.max_past_ms)
    values = message.m
    for name, value in values.items():
        try:
            checked = check_value(RULES[info.device_type].get(name) or check_metric(info.device_type, name), value)
        except Invalid as problem:
            raise problem.within(f"m.{element(name)}") from None
        if checked is not value:
            values[name] = checked  # replacing a value keeps the dict's size: safe while iterating
    # After validation no value is None: every metric kind refuses null.
    return Reading(info.device_id, message.seq, message.ts, values)  # type: ignore[arg-type]


def _senml_pack(
    records: list[Record], info: DeviceInfo, now_ms: int, anchor_ms: int, limits: ParseLimits
) -> ParseOutcome:
    groups: dict[int, list[Resolved]] = {}
    entries, relative = resolve(records, info.device_id, anchor_ms)
    for entry in entries:
        group = groups.get(entry.time_ms)
        if group is None:
            groups[entry.time_ms] = [entry]
        else:
            group.append(entry)
    if not groups:
        raise Invalid(RejectReason.EMPTY_PACK, "the pack holds base fields only, no measurement")
    outcome = ParseOutcome([], [], relative)
    for time_ms, group in groups.items():
        try:
            outcome.readings.append(_senml_reading(group, time_ms, info, now_ms, limits))
        except Invalid as problem:
            outcome.rejections.append(Rejection(problem.reason, problem.detail, info.device_id))
    return outcome


def _senml_reading(
    entries: list[Resolved], time_ms: int, info: DeviceInfo, now_ms: int, limits: ParseLimits
) -> Reading:
    """One time group -> one reading, or :class:`Invalid` naming the first bad record. Without a ``seq`` record
    the reading has no sequence number (its loss is unmeasured)."""
    try:
        check_timestamp(time_ms, now_ms, limits.max_future_ms, limits.max_past_ms)
    except Invalid as problem:
        raise problem.within(f"record {entries[0].index} (t={show(time_ms)})") from None
    rules = RULES[info.device_type]
    values: dict[str, Value] = {}
    seq: int | None = None
    for entry in entries:
        name = entry.name
        try:
            if entry.problem is not None:
                raise entry.problem
            if name in values or (name == SEQ and seq is not None):
                raise Invalid(RejectReason.DUPLICATE_KEY, f"a second {element(name)} record at the same time")
            if name == SEQ:
                if entry.unit is not None:  # a base unit does not apply to seq, its own unit is refused
                    raise Invalid(RejectReason.UNIT_MISMATCH, f"unit {show(entry.unit)}: seq has no unit")
                seq = check_seq(entry.value)
                continue
            rule = rules.get(name) or check_metric(info.device_type, name)
            if entry.unit is not None and entry.unit != rule.spec.unit:
                expected = repr(rule.spec.unit) if rule.spec.unit else "no unit"
                raise Invalid(RejectReason.UNIT_MISMATCH, f"unit {show(entry.unit)}, the registry has {expected}")
            values[name] = check_value(rule, entry.value)
        except Invalid as problem:
            label = f" {element(name)}" if name else ""
            raise problem.within(f"record {entry.index} (t={time_ms}){label}") from None
    if not values:
        raise Invalid(RejectReason.WRONG_SCHEMA, f"reading at t={time_ms} (record {entries[0].index}) has no metric")
    return Reading(info.device_id, seq, time_ms, values)


def parse_status(
    topic: str, payload: bytes, *, scheme: TopicScheme, directory: DeviceDirectory
) -> tuple[str, Status] | Rejection:
    """A retained status message (or a last will): ``(device_id, status)`` or a rejection."""
    return _parse_document(topic, payload, TopicKind.STATUS, Status, scheme, directory)


def parse_birth(
    topic: str, payload: bytes, *, scheme: TopicScheme, directory: DeviceDirectory
) -> tuple[str, Birth] | Rejection:
    """A retained birth message: ``(device_id, birth)`` or a rejection; its device_id must match the topic."""
    parsed = _parse_document(topic, payload, TopicKind.BIRTH, Birth, scheme, directory)
    if isinstance(parsed, tuple) and parsed[1].device_id != parsed[0]:
        detail = f"device_id {show(parsed[1].device_id)} differs from the topic's device"
        return Rejection(RejectReason.TOPIC_MISMATCH, detail, parsed[0])
    return parsed


def _parse_document(
    topic: str,
    payload: bytes,
    kind: TopicKind,
    cls: type[_Document],
    scheme: TopicScheme,
    directory: DeviceDirectory,
) -> tuple[str, _Document] | Rejection:
    try:
        address = scheme.parse(topic)
    except TopicError as exc:
        return Rejection(RejectReason.BAD_TOPIC, str(exc))
    device_id = address.device_id
    if address.kind is not kind:
        return Rejection(RejectReason.WRONG_SCHEMA, f"expected a {kind} topic, got {address.kind}", device_id)
    if len(payload) > _DEFAULT_LIMITS.max_payload_bytes:
        return Rejection(RejectReason.OVERSIZED, f"payload of {len(payload)} bytes", device_id)
    if device_id not in directory:
        return Rejection(RejectReason.UNKNOWN_DEVICE, f"device {device_id} is not in the registry", device_id)
    try:
        return device_id, msgspec.json.decode(payload, type=cls)
    except msgspec.ValidationError as exc:
        return Rejection(RejectReason.WRONG_SCHEMA, str(exc), device_id)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return Rejection(RejectReason.MALFORMED_JSON, str(exc), device_id)
