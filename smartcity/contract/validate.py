"""Checks every reading against the metric registry: known metric for the device type, right type, finite,
in range, timestamp inside the accepted window. Shared by the JSON and the SenML parsers.

Problems are raised as :class:`Invalid` (reason + detail); the parsers turn them into
:class:`~smartcity.contract.reading.Rejection` objects. The happy path raises nothing and allocates little:
it runs for every reading the gateway sees.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from smartcity.city.model import DeviceType
from smartcity.contract.metrics import METRICS, MetricKind, MetricSpec, metrics_for
from smartcity.contract.reading import RejectReason, Value

_FLOAT, _INT, _BOOL, _STRING = MetricKind.FLOAT, MetricKind.INT, MetricKind.BOOL, MetricKind.STRING

_FORBIDDEN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
"""Control characters (line protocol cannot carry newlines), line separators and lone surrogates (not UTF-8)."""

MAX_SEQ = 2**63 - 1


class Invalid(Exception):
    """One broken rule; ``detail`` names the element and the rule (``m.no2: 2500.0 above maximum 2000``)."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def within(self, element: str) -> Invalid:
        """The same problem, with ``element`` prepended to the detail."""
        return Invalid(self.reason, f"{element}: {self.detail}")


@dataclass(frozen=True, slots=True)
class _Rule:
    spec: MetricSpec
    kind: MetricKind
    lo: float
    hi: float
    """Bounds with None replaced by +-float max, so that NaN and +-Inf always fail the fast range test."""


def _rule(spec: MetricSpec) -> _Rule:
    lo = -sys.float_info.max if spec.minimum is None else spec.minimum
    hi = sys.float_info.max if spec.maximum is None else spec.maximum
    return _Rule(spec, spec.kind, lo, hi)


RULES: Mapping[DeviceType, Mapping[str, _Rule]] = {
    device_type: {name: _rule(spec) for name, spec in metrics_for(device_type).items()} for device_type in DeviceType
}
"""Device type -> metric name -> rule; built once."""


def show(value: object, limit: int = 40) -> str:
    """A short, printable rendering of untrusted input for rejection details."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"{'-' if value < 0 else ''}<{value.bit_length()}-bit integer>"  # repr() of huge ints is slow or refused
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def element(name: str) -> str:
    """``no2`` for a plain metric name, a quoted rendering for anything odd."""
    return name if name.isidentifier() and name.isascii() and len(name) <= 64 else show(name)


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def check_metric(device_type: DeviceType, name: str) -> _Rule:
    """The rule for ``name``; :class:`Invalid` (unknown-metric) when the type does not report it."""
    rule = RULES[device_type].get(name)
    if rule is None:
        known = "not a metric" if name not in METRICS else f"not reported by device type {device_type}"
        raise Invalid(RejectReason.UNKNOWN_METRIC, known)
    return rule


def check_value(rule: _Rule, value: object) -> Value:
    """The value as stored (JSON/SenML integers become floats for float metrics) or :class:`Invalid`."""
    kind = rule.kind
    if kind is _FLOAT:
        if isinstance(value, float):
            if rule.lo <= value <= rule.hi:
                return value
            _range_problem(rule, value)
        if isinstance(value, int) and not isinstance(value, bool):
            if rule.lo <= value <= rule.hi:
                return float(value)
            _range_problem(rule, value)
        raise Invalid(RejectReason.WRONG_TYPE, f"expected a number, got {_type_name(value)}")
    if kind is _INT:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(RejectReason.WRONG_TYPE, f"expected an integer, got {_type_name(value)}")
        if rule.lo <= value <= rule.hi:
            return value
        _range_problem(rule, value)
    if kind is _BOOL:
        if not isinstance(value, bool):
            raise Invalid(RejectReason.WRONG_TYPE, f"expected true or false, got {_type_name(value)}")
        return value
    if not isinstance(value, str):
        raise Invalid(RejectReason.WRONG_TYPE, f"expected a string, got {_type_name(value)}")
    return check_text(value, rule.spec.max_length)


def check_text(value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise Invalid(RejectReason.OUT_OF_RANGE, f"{len(value)} characters, longer than {max_length}")
    bad = _FORBIDDEN_TEXT.search(value)
    if bad is not None:
        raise Invalid(RejectReason.WRONG_TYPE, f"forbidden character {bad.group()!r} at position {bad.start()}")
    return value


def _range_problem(rule: _Rule, value: float) -> NoReturn:
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(RejectReason.NON_FINITE, f"{value} is not a finite number")
    spec = rule.spec
    if spec.minimum is not None and value < spec.minimum:
        raise Invalid(RejectReason.OUT_OF_RANGE, f"{show(value)} below minimum {_bound(spec.minimum)}")
    if spec.maximum is not None and value > spec.maximum:
        raise Invalid(RejectReason.OUT_OF_RANGE, f"{show(value)} above maximum {_bound(spec.maximum)}")
    raise AssertionError(f"{value!r} is within [{rule.lo}, {rule.hi}]")  # unreachable: only called out of range


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {show(value)}"
    if isinstance(value, str):
        return f"string {show(value)}"
    if isinstance(value, bytes):
        return "binary data"
    return type(value).__name__


def check_timestamp(ts_ms: int, now_ms: int, max_future_ms: int, max_past_ms: int) -> None:
    """Refuse device timestamps outside ``[now - max_past, now + max_future]``."""
    if ts_ms > now_ms + max_future_ms:
        raise Invalid(
            RejectReason.TIMESTAMP_FUTURE,
            f"timestamp {show(ts_ms)} is {show((ts_ms - now_ms) // 1000)} s ahead of the gateway clock "
            f"(limit {max_future_ms // 1000} s)",
        )
    if ts_ms < now_ms - max_past_ms:
        raise Invalid(
            RejectReason.TIMESTAMP_PAST,
            f"timestamp {show(ts_ms)} is {show((now_ms - ts_ms) // 1000)} s in the past "
            f"(limit {max_past_ms // 1000} s)",
        )


def check_seq(value: object) -> int:
    """A sequence number: an integer in ``0 .. 2**63 - 1``."""
    if type(value) is not int:
        raise Invalid(RejectReason.WRONG_TYPE, f"seq must be an integer, got {_type_name(value)}")
    if not 0 <= value <= MAX_SEQ:
        raise Invalid(RejectReason.OUT_OF_RANGE, f"seq {show(value)} outside 0 .. 2**63-1")
    return value
