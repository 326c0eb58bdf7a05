"""An hour's raw points folded into its minute and hour roll-up lines, in one pass per series.

The worker reads an hour's raw points (``SELECT <fields> ... GROUP BY *``) rather than asking InfluxDB for
``SUM/COUNT/MIN/MAX ... GROUP BY time(1m), *``: most devices report once a minute or less often, so the
per-minute answer has as many rows as the raw one, but four aggregates per field to compute and to send. Here each
series' rows (in time order, as InfluxDB returns them) are cut into minutes and every metric's count, sum, min and
max computed once per minute, then once more over the minutes for the hour.

The result is what :func:`services.rollup.aggregate.lines` makes of the same aggregates (same lines, same order,
same bytes; a unit test holds the two together): per window the metrics by name, per metric ``_count`` then
``_sum``, ``_min``, ``_max``, ``_increase``; sums added in time order, as InfluxDB's ``SUM`` adds (never
``sum()``: Python 3.12 compensates its rounding).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from services.rollup.aggregate import SeriesKey, meter_increases, series_key
from services.rollup.windows import minute_of
from smartcity.contract.metrics import MetricKind, MetricSpec, Temporality
from smartcity.influx.client import JsonScalar, Series
from smartcity.influx.lineprotocol import escape_key, escape_measurement, escape_tag_value, format_value
from smartcity.rollups import MINUTE_MS
from smartcity.rollups import field as field_name


@dataclass(frozen=True, slots=True)
class _Column:
    """One metric of a measurement: its field, how it rolls up, and its escaped roll-up field keys (with ``=``)."""

    field: str
    numeric: bool
    register: bool
    count: str
    sum: str
    min: str
    max: str
    increase: str


def _columns(specs: Sequence[MetricSpec]) -> list[_Column]:
    def key(spec: MetricSpec, part: str) -> str:
        return escape_key(field_name(spec, part)) + "="

    return [
        _Column(
            spec.field,
            spec.kind in (MetricKind.FLOAT, MetricKind.INT),
            spec.temporality is Temporality.REGISTER,
            *(key(spec, part) for part in ("count", "sum", "min", "max", "increase")),
        )
        for spec in sorted(specs, key=lambda spec: spec.name)
    ]


@dataclass(slots=True)
class _Hour:
    """One metric of one series over the hour, folded minute after minute."""

    count: int = 0
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    increase: float | None = None


@dataclass(slots=True)
class FoldedHour:
    """Minute and hour lines of one measurement's hour."""

    minute_lines: list[str] = field(default_factory=list)
    hour_lines: list[str] = field(default_factory=list)


_HEADS: dict[SeriesKey, str] = {}
_HEADS_KEPT = 200_000
"""Series heads remembered between hours (the same devices report every hour): about 200 bytes each."""


def head(key: SeriesKey) -> str:
    """``measurement,tag=value,... `` as :func:`smartcity.influx.lineprotocol.encode_point` writes it."""
    found = _HEADS.get(key)
    if found is None:
        measurement, tags = key
        found = escape_measurement(measurement) + "".join(f",{escape_key(k)}={escape_tag_value(v)}" for k, v in tags)
        found += " "
        if len(_HEADS) >= _HEADS_KEPT:
            _HEADS.clear()
        _HEADS[key] = found
    return found


def _number(value: JsonScalar) -> float:
    return float(value)  # type: ignore[arg-type]  # numeric columns hold numbers (InfluxDB types fields per shard)


def _added(numbers: Iterable[float]) -> float:
    """Left to right, as InfluxDB's ``SUM`` and :meth:`Aggregate.merge` add."""
    return functools.reduce(operator.add, numbers)


def fold_hour(
    answer: Iterable[Series],
    specs: Sequence[MetricSpec],
    hour_ms: int,
    previous: Mapping[tuple[SeriesKey, str], float] | None = None,
) -> FoldedHour:
    """Minute and hour lines of one measurement's raw rows (columns ``time`` then metric fields, any order).
    ``previous`` holds, per (series, register field), the last reading before the hour (see
    :func:`services.rollup.aggregate.meter_increases`)."""
    all_columns = _columns(specs)
    folded = FoldedHour()
    for key, series in sorted(((series_key(series), series) for series in answer), key=lambda pair: pair[0]):
        rows = series.values
        if not rows:
            continue
        position = {name: index for index, name in enumerate(series.columns)}
        times: list[int] = [row[0] for row in rows]  # type: ignore[misc]  # the time column (epoch=ms)
        starts = [ts - ts % MINUTE_MS for ts in times]  # minute_of, inline: this runs for every point
        groups = None if len(set(starts)) == len(starts) else _groups(starts)
        minute_texts: list[list[str | None]] = []
        hour_texts: list[str] = []
        for column in all_columns:
            at = position.get(column.field)
            if at is None:
                continue
            values = [row[at] for row in rows]
            increases: dict[int, float] = {}
            if column.register:
                before = (previous or {}).get((key, column.field))
                increases = meter_increases(
                    [(t, _number(v)) for t, v in zip(times, values, strict=True) if v is not None], before, minute_of
                )
            texts, total = (
                _one_each(column, values, starts, increases)
                if groups is None
                else _grouped(column, values, groups, increases)
            )
            if total is not None:
                minute_texts.append(texts)
                hour_texts.append(total)
        if not minute_texts:
            continue
        line_head = head(key)
        minute_starts = starts if groups is None else [start for start, _first, _end in groups]
        for start, parts in zip(minute_starts, zip(*minute_texts, strict=True), strict=True):
            fields = ",".join(part for part in parts if part is not None)
            if fields:
                folded.minute_lines.append(f"{line_head}{fields} {start}")
        if hour_texts:
            folded.hour_lines.append(f"{line_head}{','.join(hour_texts)} {hour_ms}")
    return folded


def _groups(starts: list[int]) -> list[tuple[int, int, int]]:
    """(minute start, first row, end row) of each minute (rows come in time order)."""
    firsts = [index for index in range(len(starts)) if index == 0 or starts[index] != starts[index - 1]]
    return [(starts[first], first, end) for first, end in zip(firsts, [*firsts[1:], len(starts)], strict=True)]


def _one_each(
    column: _Column, values: list[JsonScalar], starts: list[int], increases: dict[int, float]
) -> tuple[list[str | None], str | None]:
    """A metric's minute fields and hour fields when every minute holds one row (most devices report once a
    minute or less often): count 1, and the value is the sum, the minimum and the maximum."""
    count = sum(value is not None for value in values)
    if not count:
        return [], None
    if not column.numeric:
        one = f"{column.count}1i"
        return [None if value is None else one for value in values], _fields(column, count, None, None, None, None)
    # repr() is how format_value writes a float; a value InfluxDB stored is finite, so its check is not needed.
    shown = [None if value is None else repr(float(value)) for value in values]
    head, to_min, to_max = f"{column.count}1i,{column.sum}", f",{column.min}", f",{column.max}"
    texts: list[str | None] = [None if text is None else f"{head}{text}{to_min}{text}{to_max}{text}" for text in shown]
    numbers = [float(value) for value in values if value is not None]
    increase = None
    if column.register:
        steps = [0.0 + increases[start] for start, value in zip(starts, values, strict=True) if value is not None]
        texts = [
            None if text is None else f"{text},{column.increase}{format_value(0.0 + increases[start])}"
            for text, start in zip(texts, starts, strict=True)
        ]
        increase = _added(steps)
    return texts, _fields(column, count, _added(numbers), min(numbers), max(numbers), increase)


def _grouped(
    column: _Column, values: list[JsonScalar], groups: list[tuple[int, int, int]], increases: dict[int, float]
) -> tuple[list[str | None], str | None]:
    """A metric's minute fields and hour fields, in general (minutes with several rows)."""
    texts: list[str | None] = []
    total = _Hour()
    for start, first, end in groups:
        found = [value for value in values[first:end] if value is not None]
        texts.append(_minute(column, found, increases.get(start), total) if found else None)
    if not total.count:
        return [], None
    return texts, _fields(column, total.count, total.sum, total.min, total.max, total.increase)


def _minute(column: _Column, values: Sequence[JsonScalar], increase: float | None, total: _Hour) -> str:
    """The fields of one metric in one minute, folded into ``total``."""
    count = len(values)
    total.count += count
    if column.register and increase is not None:
        increase = 0.0 + increase  # as Aggregate: a minute's increase starts from 0.0
        total.increase = increase if total.increase is None else total.increase + increase
    if not column.numeric:
        return _fields(column, count, None, None, None, None)
    numbers = [_number(value) for value in values]
    added, low, high = _added(numbers), min(numbers), max(numbers)
    total.sum = added if total.sum is None else total.sum + added
    total.min = low if total.min is None else min(total.min, low)
    total.max = high if total.max is None else max(total.max, high)
    return _fields(column, count, added, low, high, increase)


def _fields(
    column: _Column, count: int, total: float | None, low: float | None, high: float | None, increase: float | None
) -> str:
    text = f"{column.count}{count}i"
    if total is not None and low is not None and high is not None:
        text += f",{column.sum}{format_value(total)},{column.min}{format_value(low)}"
        text += f",{column.max}{format_value(high)}"
    if increase is not None:
        text += f",{column.increase}{format_value(increase)}"
    return text
