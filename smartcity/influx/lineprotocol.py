"""InfluxDB line protocol, escaped per position, and the reading -> points mapping.

``measurement,tag=value,... field=value,... timestamp``; timestamps here are milliseconds (write with
``precision=ms``). Escaping differs by position: measurement (comma, space); tag keys, tag values and field keys
(comma, equals, space); string field values (double quote, backslash). InfluxDB cannot carry a newline anywhere,
refuses a tag value ending in a backslash, and reads a backslash in names and tag values as escaping the next
byte, so a trailing backslash or an unpaired one right before a comma, equals sign or space is refused rather
than written ambiguously. Empty tag values are omitted (InfluxDB refuses them). Integers carry the ``i`` suffix
and must fit in 64 bits; floats are written in the shortest form that round-trips; NaN and infinities are
refused (InfluxDB has no such values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from smartcity.city.directory import DeviceDirectory
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricKind
from smartcity.contract.reading import Reading, Value

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_RESERVED_KEYS = frozenset({"time"})
"""InfluxDB refuses ``time`` as a tag or field key."""

TAG_KEYS = ("device", "device_type", "district", "facility", "facility_kind")
"""The tags of every reading point, sorted (InfluxDB indexes sorted tag sets fastest)."""


class LineProtocolError(ValueError):
    """A name or value that line protocol cannot carry."""


_DANGLING = {special: re.compile(rf"(?<!\\)(?:\\\\)*\\(?=[{special}])|\\\Z") for special in (", ", ",= ")}
"""A backslash at the end (InfluxDB refuses it), or an odd run of backslashes right before a delimiter (InfluxDB
would read the last one as escaping the delimiter; an even run reads as pairs and is stored as written)."""


def _name(text: str, escapes: dict[int, str], special: str, what: str) -> str:
    if not text:
        raise LineProtocolError(f"{what} is empty")
    if "\n" in text or "\r" in text:
        raise LineProtocolError(f"{what} {text!r} contains a line break")
    if "\\" in text and _DANGLING[special].search(text):
        raise LineProtocolError(f"{what} {text!r} ends in a backslash or has an unpaired one before {special!r}")
    return text.translate(escapes)


def escape_measurement(name: str) -> str:
    """Escape a measurement name (comma, space)."""
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name!r} would read as a comment")
    return _name(name, _MEASUREMENT_ESCAPES, ", ", "measurement")


def escape_key(key: str) -> str:
    """Escape a tag key or field key (comma, equals, space)."""
    if key in _RESERVED_KEYS:
        raise LineProtocolError(f"{key!r} is reserved as a tag or field key")
    return _name(key, _KEY_ESCAPES, ",= ", "key")


def escape_tag_value(value: str) -> str:
    """Escape a tag value (comma, equals, space). Empty values are omitted by the callers, never written."""
    return _name(value, _KEY_ESCAPES, ",= ", "tag value")


def format_string(value: str) -> str:
    """A quoted string field value (double quote and backslash escaped)."""
    if "\n" in value or "\r" in value:
        raise LineProtocolError(f"string value {value[:40]!r} contains a line break")
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def format_value(value: Value) -> str:
    """A field value by its Python type: bool, int (``i`` suffix), float, str."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise LineProtocolError(f"integer {value} does not fit in 64 bits")
        return f"{value}i"
    if isinstance(value, float):
        return _format_float(value)
    return format_string(value)


def _format_float(value: float) -> str:
    text = repr(value)
    if text[-1] in "fn":  # 'inf', '-inf', 'nan': no other float repr ends in f or n
        raise LineProtocolError(f"{text} cannot be stored: InfluxDB has no non-finite numbers")
    return text


def encode_point(measurement: str, tags: Mapping[str, str], fields: Mapping[str, Value], ts_ms: int) -> str:
    """One line (no trailing newline). Tags are sorted by key and empty tag values omitted."""
    if not fields:
        raise LineProtocolError("a point needs at least one field")
    parts = [escape_measurement(measurement)]
    parts.extend(f",{escape_key(key)}={escape_tag_value(tags[key])}" for key in sorted(tags) if tags[key])
    parts.append(" ")
    parts.append(",".join(f"{escape_key(key)}={format_value(value)}" for key, value in fields.items()))
    parts.append(f" {int(ts_ms)}")
    return "".join(parts)


_FLOAT, _INT, _BOOL = MetricKind.FLOAT, MetricKind.INT, MetricKind.BOOL
_FIELDS: dict[str, tuple[str, str, MetricKind]] = {
    name: (spec.measurement, escape_key(spec.field) + "=", spec.kind) for name, spec in METRICS.items()
}
"""Metric -> (measurement, escaped field key with '=', kind): everything but the value, computed once."""


class LineEncoder:
    """Readings -> line-protocol lines, tags from the device directory (never from the payload).

    One line per measurement the reading touches, with the metric fields and an integer field ``seq`` (left out
    when the reading has no sequence number: its producer sends none).
    This runs for every reading, so the escaped ``measurement,tags `` heads are cached per device, together
    with how the device's last reading shape (its metric names in order) splits into lines.
    Expects validated readings (see :mod:`smartcity.contract.parse`); anything line protocol cannot carry
    raises :class:`LineProtocolError` (a ValueError).
    """

    def __init__(self, directory: DeviceDirectory) -> None:
        self._directory = directory
        self._generation = directory.generation
        self._prefixes: dict[str, dict[str, str]] = {}
        self._layouts: dict[str, tuple[tuple[str, ...], _Plan, tuple[str, ...]]] = {}
        """Device -> (metric names, plan, line heads) of its last reading shape: devices repeat their shape."""

    def _device_prefixes(self, device_id: str) -> dict[str, str]:
        info = self._directory.get(device_id)
        if info is None:
            raise LineProtocolError(f"device {device_id!r} is not in the directory")
        tags = {
            "device": info.device_id,
            "device_type": info.device_type.value,
            "district": info.district_id,
            "facility": info.facility_id,
            "facility_kind": info.facility_kind.value,
        }
        tag_text = "".join(f",{escape_key(key)}={escape_tag_value(tags[key])}" for key in TAG_KEYS if tags[key])
        measurements = {METRICS[name].measurement for name in DEVICE_METRICS[info.device_type]}
        prefixes = {measurement: f"{escape_measurement(measurement)}{tag_text} " for measurement in measurements}
        self._prefixes[device_id] = prefixes
        return prefixes

    def _layout(self, device_id: str, names: tuple[str, ...]) -> tuple[tuple[str, ...], _Plan, tuple[str, ...]]:
        prefixes = self._prefixes.get(device_id) or self._device_prefixes(device_id)
        plan = _PLANS.get(names) or _plan(names)
        try:
            heads = tuple(prefixes[measurement] for measurement in plan.measurements)
        except KeyError as exc:
            raise _foreign(device_id, exc) from None
        layout = (names, plan, heads)
        self._layouts[device_id] = layout
        return layout

    def encode(self, reading: Reading) -> list[str]:
        """The lines for one reading, timestamps in milliseconds."""
        return self._encode(reading, check_types=True)

    def encode_parsed(self, reading: Reading) -> list[str]:
        """The same lines for a reading that :func:`smartcity.contract.parse.parse_message` produced: its value
        types already match the registry exactly (floats for float metrics, ints for int metrics, bools for bool
        metrics; a test holds the parser to that), so they are not checked again on this hot path."""
        return self._encode(reading, check_types=False)

    def _encode(self, reading: Reading, *, check_types: bool) -> list[str]:
        if self._generation != self._directory.generation:  # the city changed at run time: tags may have too
            self._prefixes.clear()
            self._layouts.clear()
            self._generation = self._directory.generation
        values = reading.values
        names = tuple(values)
        layout = self._layouts.get(reading.device_id)
        if layout is None or layout[0] != names:
            layout = self._layout(reading.device_id, names)
        _, plan, heads = layout
        if plan is _NO_PLAN or (check_types and plan.types != tuple(map(type, values.values()))):
            return self._encode_each(reading, self._prefixes[reading.device_id])  # strings, odd orders or types
        if plan.ints:
            values = values.copy()
            for name in plan.ints:
                values[name] = f"{values[name]}i"  # written as a JSON string: its quotes are dropped below
        # msgspec writes the whole dict in one C call ({"no2":23.4,"lamp_on":true}), floats in the shortest
        # form that round-trips; one translate() turns that into line-protocol fields (no2=23.4,lamp_on=true).
        encoded = _JSON.encode(values)
        if b"null" in encoded:  # msgspec's rendering of NaN and infinities
            return self._encode_each(reading, self._prefixes[reading.device_id])  # raises, naming the value
        fields = encoded.translate(_JSON_TO_FIELDS, b'"{}').decode()
        seq = reading.seq
        tail = f" {reading.ts_ms}" if seq is None else f",seq={seq}i {reading.ts_ms}"
        if plan.splitter is None:
            return [heads[0] + fields + tail]
        if len(heads) == 2:  # the common case (a measurement and device_vitals): a split beats the regex
            first = plan.first
            pieces = fields.split(",", first)
            return [heads[0] + ",".join(pieces[:first]) + tail, heads[1] + pieces[first] + tail]
        groups = plan.splitter.match(fields).groups()  # type: ignore[union-attr]  # always matches
        return [head + text + tail for head, text in zip(heads, groups, strict=True)]

    @staticmethod
    def _encode_each(reading: Reading, prefixes: dict[str, str]) -> list[str]:
        groups: dict[str, list[str]] = {}
        for name, value in reading.values.items():
            layout = _FIELDS.get(name)
            if layout is None:
                raise LineProtocolError(f"{name!r} is not a registered metric")
            measurement, key, kind = layout
            if kind is _FLOAT:
                text = _format_float(float(value))
            elif kind is _INT:
                text = format_value(int(value))
            elif kind is _BOOL:
                text = "true" if value else "false"
            else:
                text = format_string(str(value))
            groups.setdefault(measurement, []).append(key + text)
        seq = reading.seq
        tail = f" {reading.ts_ms}" if seq is None else f",seq={seq}i {reading.ts_ms}"
        try:
            return [prefixes[measurement] + ",".join(texts) + tail for measurement, texts in groups.items()]
        except KeyError as exc:
            raise _foreign(reading.device_id, exc) from None


def _foreign(device_id: str, exc: KeyError) -> LineProtocolError:
    return LineProtocolError(f"device {device_id!r} does not report into measurement {exc.args[0]!r}")


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one reading shape (its ordered metric names) becomes lines, for shapes without string metrics whose
    metrics come grouped by measurement (registry order is)."""

    types: tuple[type, ...]
    """The value type each metric must have (float, int, bool)."""
    ints: tuple[str, ...]
    """Integer metrics (they need the ``i`` suffix)."""
    measurements: tuple[str, ...]
    """The measurements, in the order their fields come."""
    splitter: re.Pattern[str] | None
    """Cuts the fields text into one group per measurement; None when there is only one."""
    first: int
    """How many fields the first measurement has."""


_NO_PLAN = _Plan((), (), (), None, 0)
"""Shapes the general path handles (cached too, so that they are recognised in one look-up)."""
_PLANS: dict[tuple[str, ...], _Plan] = {}
_PLAN_CACHE_SIZE = 4096
_TYPES = {MetricKind.FLOAT: float, MetricKind.INT: int, MetricKind.BOOL: bool}
_JSON = msgspec.json.Encoder()
_JSON_TO_FIELDS = bytes.maketrans(b":", b"=")


def _plan(names: tuple[str, ...]) -> _Plan:
    found = [METRICS.get(name) for name in names]
    specs = [spec for spec in found if spec is not None]
    if len(specs) != len(names):
        return _NO_PLAN  # not cached (names from outside the registry); the general path names the metric
    measurements = [spec.measurement for spec in specs]
    order = list(dict.fromkeys(measurements))
    plan = _NO_PLAN
    grouped = measurements == sorted(measurements, key=order.index)
    if grouped and all(spec.kind in _TYPES and escape_key(spec.field) == spec.field for spec in specs):
        sizes = [measurements.count(measurement) for measurement in order]
        # One group per measurement: "(f,f,f),(f,f)" - metric values never hold a comma (no strings here).
        pattern = ",".join(r"([^,]*" + r",[^,]*" * (size - 1) + ")" for size in sizes)
        plan = _Plan(
            types=tuple(_TYPES[spec.kind] for spec in specs),
            ints=tuple(spec.name for spec in specs if spec.kind is MetricKind.INT),
            measurements=tuple(order),
            splitter=re.compile(pattern + r"\Z") if len(order) > 1 else None,
            first=sizes[0],
        )
    if len(_PLANS) >= _PLAN_CACHE_SIZE:
        _PLANS.clear()
    _PLANS[names] = plan
    return plan
