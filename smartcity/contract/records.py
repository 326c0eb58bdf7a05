"""Resolving SenML records (RFC 8428 section 4.6) into named values for the registry.

Base fields apply to their record and every later one until the next record with the same base field: the base
name is prefixed to the name, the base time added to the time, the base unit used where a record has no unit, the
base value added to ``v`` and the base sum to the sum. A resolved time below 2**28 s is relative ("now" plus that
many seconds): it is resolved against an *anchor* the caller chooses, and the result says whether that happened,
so that a redelivered pack can be resolved against the same anchor again.

Names: ``{metric}``, ``{device_id}:{metric}`` or ``urn:dev:city:{device_id}:{metric}`` for the topic's device. A
name in the city's namespace for another device (``urn:dev:city:...``, or a device-ID-shaped prefix) is a
topic mismatch; a name from another naming scheme (``urn:dev:ow:...``, an IPv6 address) names nothing in the
registry, so it is an unknown metric.

Sums (``s``, base sum ``bs``): RFC 8428 section 4.2 defines a sum as the integral of the value over time, in the
record's unit times seconds. The registry holds two such integrals, each the cumulative register of a rate:
:data:`SUMS`. The sum of ``power`` (kW, so kW s) is stored as ``energy`` (kWh), the sum of ``water_flow``
(l/s, so litres) as ``water_volume`` (m3). A record has a sum when it carries ``s`` or a non-zero base sum is in
effect (the missing one counts as zero, section 4.5.4); it may then have no value at all. A sum of any other
metric has no place in the registry and is refused (unknown-metric), as is a sum on the ``seq`` record.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from msgspec import UNSET

from smartcity.contract.metrics import METRICS
from smartcity.contract.reading import RejectReason
from smartcity.contract.senml import SENML_VERSION, Number, Record
from smartcity.contract.validate import Invalid, show

URN_PREFIX = "urn:dev:city:"
SEQ = "seq"
RELATIVE_LIMIT_MS = 2**28 * 1000
"""Resolved times below 2**28 s are relative to "now" (RFC 8428 section 4.5.3)."""

SUMS: Mapping[str, tuple[str, int]] = {"power": ("energy", 3600), "water_flow": ("water_volume", 1000)}
"""Rate metric -> (the registry metric holding its integral, divisor from the rate's unit times seconds to that
metric's unit): kW s / 3600 = kWh, l / 1000 = m3. A unit test holds the units to these divisors."""

_HEADER = frozenset({"bn", "bt", "bu", "bv", "bs", "bver"})
_DEVICE_LIKE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CITY_NAMESPACE = URN_PREFIX[:-1]


@dataclass(slots=True)
class Resolved:
    """One value of a record after resolution. ``problem`` set means its reading (time group) is refused."""

    index: int
    name: str
    """Metric name (the part after the device prefix), ``seq`` for the sequence record."""
    time_ms: int
    unit: str | None
    """The record's unit, else the base unit (never the base unit for ``seq``); None for a sum's entry, whose unit
    was checked against the rate it integrates."""
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


def _fields(record: Record) -> set[str]:
    return {name for name in Record.__struct_fields__ if getattr(record, name) is not UNSET}


def _in_city_namespace(prefix: str) -> bool:
    """A name prefix that can only mean a device of this city: ``urn:dev:city...`` or a device-ID-shaped slug."""
    return prefix.startswith(_CITY_NAMESPACE) or _DEVICE_LIKE.fullmatch(prefix) is not None


def check_base_name(base_name: str, device_id: str) -> None:
    """A base name in the city's namespace must name the topic's device (it may go on to name a metric:
    ``urn:dev:city:{device_id}:humidity``). A base name from another scheme is left to the names it builds."""
    if base_name.startswith((f"{device_id}:", f"{URN_PREFIX}{device_id}:")):
        return
    head = base_name.rpartition(":")[0] if ":" in base_name else base_name
    if _in_city_namespace(head):
        raise Invalid(
            RejectReason.TOPIC_MISMATCH,
            f"base name {show(base_name)} is not '{device_id}:' or '{URN_PREFIX}{device_id}:' (the topic's device)",
        )


def _version(bver: int, version: int, index: int) -> int:
    if not 1 <= bver <= SENML_VERSION:
        raise Invalid(RejectReason.WRONG_SCHEMA, f"record {index}: SenML version {show(bver)} is not supported")
    if index and bver != version:  # RFC 8428 section 4.4: every record of a pack has the same version
        raise Invalid(RejectReason.WRONG_SCHEMA, f"record {index}: SenML version {bver} differs from {version}")
    return bver


def resolve(records: Sequence[Record], device_id: str, anchor_ms: int) -> tuple[list[Resolved], bool]:
    """Apply base values record by record; relative times count from ``anchor_ms``. Returns the values and whether
    any time was relative. Problems of the whole pack raise :class:`Invalid`; problems of one record are attached
    to its entry."""
    own = (f"{device_id}:", f"{URN_PREFIX}{device_id}:")
    base_name, plain, base_ms, base_unit = "", True, 0, None
    base_value: Number = 0
    base_sum: Number = 0
    version = SENML_VERSION
    relative = False
    resolved: list[Resolved] = []
    for index, record in enumerate(records):
        if record.bn is not UNSET:
            check_base_name(record.bn, device_id)
            base_name = record.bn
            plain = base_name in own
        if record.bt is not UNSET:
            base_ms = _ms(record.bt, "bt", index)
        if record.bu is not UNSET:
            base_unit = record.bu
        if record.bv is not UNSET:
            base_value = record.bv
        if record.bs is not UNSET:
            base_sum = record.bs
        if record.bver is not UNSET:
            version = _version(record.bver, version, index)
        time_ms = base_ms if record.t is UNSET else base_ms + _ms(record.t, "t", index)
        if time_ms < RELATIVE_LIMIT_MS:
            time_ms += anchor_ms
            relative = True
        name, value = record.n, record.v
        try:
            if (
                plain and name and ":" not in name  # the metric name itself: the base name, if any, is the device's
                and value is not UNSET and not base_sum
                and record.vs is UNSET and record.vb is UNSET and record.vd is UNSET and record.s is UNSET
            ):  # fmt: skip
                unit = (None if name == SEQ else base_unit) if record.u is UNSET else record.u
                resolved.append(Resolved(index, name, time_ms, unit, _add(value, base_value) if base_value else value))
                continue
            if name is UNSET and _HEADER.issuperset(_fields(record)):
                continue  # base fields only (RFC 8428 section 5.1.7 starts a pack so): no value of its own
            metric = _metric_name(base_name + ("" if name is UNSET else name), device_id)
            unit = (None if metric == SEQ else base_unit) if record.u is UNSET else record.u
            resolved += _entries(record, index, metric, time_ms, unit, base_value, base_sum)
        except Invalid as problem:
            resolved.append(Resolved(index, "", time_ms, None, None, problem))
    return resolved, relative


def _data(text: str) -> bytes:
    """A data value: base64url, padding optional (the standard alphabet is read too)."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError:  # binascii.Error, or text that is not ASCII
        raise Invalid(RejectReason.WRONG_SCHEMA, f"vd {show(text)} is not base64url data") from None


def _add(value: Number, base: Number) -> Number:
    try:
        return value + base
    except OverflowError:  # an integer beyond any float, added to a float
        raise Invalid(RejectReason.OUT_OF_RANGE, f"{show(value)} plus base {show(base)} is beyond any number") from None


def _metric_name(full: str, device_id: str) -> str:
    prefix, sep, metric = full.rpartition(":")
    if sep and prefix != device_id and prefix != URN_PREFIX + device_id:
        if _in_city_namespace(prefix):
            raise Invalid(RejectReason.TOPIC_MISMATCH, f"name {show(full)} is not one of device {device_id}")
        raise Invalid(
            RejectReason.UNKNOWN_METRIC,
            f"name {show(full)} names no registry metric: names are '{{metric}}', '{device_id}:{{metric}}' "
            f"or '{URN_PREFIX}{device_id}:{{metric}}'",
        )
    if not metric:
        raise Invalid(RejectReason.WRONG_SCHEMA, "record has no name")
    return metric


def _entries(
    record: Record, index: int, metric: str, time_ms: int, unit: str | None, base_value: Number, base_sum: Number
) -> list[Resolved]:
    given = [value for value in (record.v, record.vs, record.vb, record.vd) if value is not UNSET]
    has_sum = record.s is not UNSET or base_sum != 0
    if len(given) > 1 or not (given or has_sum):
        raise Invalid(
            RejectReason.WRONG_SCHEMA, f"record has {len(given)} values (v, vs, vb, vd), needs exactly 1 or a sum (s)"
        )
    entries: list[Resolved] = []
    if given:
        value: object
        if record.v is not UNSET:
            value = _add(record.v, base_value) if base_value else record.v
        else:
            value = _data(record.vd) if record.vd is not UNSET else given[0]
        entries.append(Resolved(index, metric, time_ms, unit, value))
    if has_sum:
        total = base_sum if record.s is UNSET else _add(record.s, base_sum)
        cumulative, stored = _integral(metric, unit, total)
        entries.append(Resolved(index, cumulative, time_ms, None, stored))
    return entries


def _integral(metric: str, unit: str | None, total: Number) -> tuple[str, float]:
    """The registry metric and value a sum of ``metric`` is stored as (see :data:`SUMS`)."""
    if metric == SEQ:
        raise Invalid(RejectReason.WRONG_SCHEMA, "seq carries no sum (s or bs)")
    target = SUMS.get(metric)
    if target is None:
        raise Invalid(
            RejectReason.UNKNOWN_METRIC,
            f"the sum (s) of {show(metric)} is no registry metric: sums are stored for "
            + ", ".join(f"{rate} (as {name})" for rate, (name, _) in SUMS.items()),
        )
    cumulative, divisor = target
    rate_unit = METRICS[metric].unit
    if unit is not None and unit != rate_unit:
        raise Invalid(
            RejectReason.UNIT_MISMATCH,
            f"unit {show(unit)}, the registry has {rate_unit!r} (the sum is in {rate_unit} s)",
        )
    try:
        return cumulative, total / divisor
    except OverflowError:  # an integer beyond any float
        raise Invalid(RejectReason.OUT_OF_RANGE, f"sum {show(total)} is beyond any {cumulative} value") from None
