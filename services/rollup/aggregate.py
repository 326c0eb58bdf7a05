"""The arithmetic of roll-ups, without I/O: window aggregates that combine exactly, meter increases with resets,
and the lines a set of aggregates becomes.

Everything here is a pure function of the rows it is given, so a window computed twice gives the same points
(same measurement, tags, timestamps and fields): the worker is idempotent by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from smartcity.contract.metrics import METRICS, MetricSpec
from smartcity.contract.reading import Value
from smartcity.influx.client import JsonScalar, Series
from smartcity.influx.lineprotocol import encode_point
from smartcity.rollups import field, rolls_up

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""(measurement, sorted non-empty tags): one device's series."""
Windows = dict[SeriesKey, dict[int, dict[str, "Aggregate"]]]
"""series -> window start (ms) -> metric name -> aggregate."""


@dataclass(slots=True)
class Aggregate:
    """One metric over one window of one series. ``increase`` only for registers."""

    count: int = 0
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    increase: float | None = None

    def merge(self, other: Aggregate) -> None:
        """Fold ``other`` (a disjoint window or set of points) into this one: sums and counts add, extremes
        compare, so a mean computed from the result is exactly the mean of all the points."""
        self.count += other.count
        self.sum = _add(self.sum, other.sum)
        self.increase = _add(self.increase, other.increase)
        self.min = other.min if self.min is None else self.min if other.min is None else min(self.min, other.min)
        self.max = other.max if self.max is None else self.max if other.max is None else max(self.max, other.max)

    def fields(self, spec: MetricSpec) -> dict[str, Value]:
        parts = rolls_up(spec)
        values: dict[str, Value] = {field(spec, "count"): self.count}
        for part, value in (("sum", self.sum), ("min", self.min), ("max", self.max), ("increase", self.increase)):
            if part in parts and value is not None:
                values[field(spec, part)] = float(value)
        return values


def _add(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def series_key(series: Series) -> SeriesKey:
    return series.name, tuple(sorted((k, v) for k, v in series.tags.items() if v))


def _number(value: JsonScalar) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_windows(answer: Iterable[Series], metrics: Mapping[str, Sequence[MetricSpec]], out: Windows) -> None:
    """Fold query rows with columns ``time, <metric>_<part>...`` (one row per window and series) into ``out``.
    Windows where a metric has no points (count 0 or null) are left out for that metric."""
    for series in answer:
        specs = metrics.get(series.name, ())
        column = {name: index for index, name in enumerate(series.columns)}
        target = out.setdefault(series_key(series), {})
        for row in series.values:
            start = row[0]
            if not isinstance(start, int):
                continue
            for spec in specs:
                count = row[column[field(spec, "count")]] if field(spec, "count") in column else None
                if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
                    continue
                found = Aggregate(count=count)
                for part in ("sum", "min", "max", "increase"):
                    if field(spec, part) in column:
                        setattr(found, part, _number(row[column[field(spec, part)]]))
                target.setdefault(start, {}).setdefault(spec.name, Aggregate()).merge(found)


def meter_increases(
    points: Sequence[tuple[int, float]], previous: float | None, window_of: Callable[[int], int]
) -> dict[int, float]:
    """Consumption per window from a meter's register readings (sorted by time), counted at the later reading of
    each consecutive pair. A drop means the meter was reset or replaced: it counts from zero again, so the
    increase is the new value. ``previous`` is the last reading before the first one (None: unknown, the first
    reading counts nothing)."""
    increases: dict[int, float] = {}
    last = previous
    for ts, value in points:
        step = 0.0 if last is None else value - last if value >= last else value
        window = window_of(ts)
        increases[window] = increases.get(window, 0.0) + step
        last = value
    return increases


def coarsen(fine: Windows, window_of: Callable[[int], int]) -> Windows:
    """Fine windows folded into coarser ones (``window_of`` maps a fine window's start to its coarse window's)."""
    coarse: Windows = {}
    for key, windows in fine.items():
        target = coarse.setdefault(key, {})
        for start, by_metric in windows.items():
            into = target.setdefault(window_of(start), {})
            for name, aggregate in by_metric.items():
                into.setdefault(name, Aggregate()).merge(aggregate)
    return coarse


def lines(windows: Windows) -> list[str]:
    """Line protocol for every window, sorted (series, time) so equal inputs give equal bodies."""
    out: list[str] = []
    for (measurement, tags), by_start in sorted(windows.items()):
        for start in sorted(by_start):
            values: dict[str, Value] = {}
            for name in sorted(by_start[start]):
                values |= by_start[start][name].fields(METRICS[name])
            if values:
                out.append(encode_point(measurement, dict(tags), values, start))
    return out
