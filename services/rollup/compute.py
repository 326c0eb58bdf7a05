"""Computing one window: read it with plain InfluxQL (bind parameters for the bounds), write the aggregates back
through the core's line-protocol encoder to ``/write?rp=...``. No ``SELECT ... INTO``: 2.x and 3.x have none.

An hour is read from raw once (``GROUP BY time(1m), *``: one row per minute and device) and becomes its minute
points and, folded in Python, its hour points. Meter registers are read raw as well, with the last reading before
the hour, for their reset-aware increases. A local day is combined from the hour (or minute) roll-ups already
written, with InfluxQL again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.rollup.aggregate import Aggregate, Windows, coarsen, lines, meter_increases, parse_windows, series_key
from services.rollup.windows import day_source, hour_of, minute_of
from smartcity.contract.metrics import METRICS, MetricSpec, Temporality
from smartcity.influx.client import ParamValue, Series, quote_identifier
from smartcity.rollups import DAY, HOUR, HOUR_MS, MINUTE, NS_PER_MS, Tier, field, rolls_up, source

BY_MEASUREMENT: Mapping[str, Sequence[MetricSpec]] = {
    measurement: [spec for spec in METRICS.values() if spec.measurement == measurement]
    for measurement in sorted({spec.measurement for spec in METRICS.values()})
}
REGISTERS = [spec for spec in METRICS.values() if spec.temporality is Temporality.REGISTER]
_FROM_RAW = {"sum": "SUM", "count": "COUNT", "min": "MIN", "max": "MAX"}
_FROM_ROLLUP = {"sum": "SUM", "count": "SUM", "min": "MIN", "max": "MAX", "increase": "SUM"}


class Store(Protocol):
    """What computing a window needs from InfluxDB (an :class:`~smartcity.influx.client.InfluxClient`, or a
    twin in unit tests)."""

    async def query(self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms") -> list[Series]:
        """Run InfluxQL."""
        ...


class TierWriter(Protocol):
    async def write_tier(self, tier: Tier, body: list[str]) -> None:
        """Write lines to ``tier``'s retention policy (returns once they are durable)."""
        ...


def raw_statement(measurement: str) -> str:
    """Sum, count, min and max of every metric of ``measurement`` per minute and series."""
    select = ", ".join(
        f"{_FROM_RAW[part]}({quote_identifier(spec.field)}) AS {quote_identifier(field(spec, part))}"
        for spec in BY_MEASUREMENT[measurement]
        for part in rolls_up(spec)
        if part in _FROM_RAW
    )
    return (
        f"SELECT {select} FROM {quote_identifier(measurement)} WHERE time >= $start AND time < $end "
        "GROUP BY time(1m), * fill(none)"
    )


def rollup_statements(database: str, tier: Tier) -> str:
    """One statement per measurement combining ``tier``'s windows in ``[start, end)`` into one row per series."""
    statements = []
    for measurement, specs in BY_MEASUREMENT.items():
        select = ", ".join(
            f"{_FROM_ROLLUP[part]}({quote_identifier(field(spec, part))}) AS {quote_identifier(field(spec, part))}"
            for spec in specs
            for part in rolls_up(spec)
        )
        statements.append(
            f"SELECT {select} FROM {source(database, tier, measurement)} "
            "WHERE time >= $start AND time < $end GROUP BY *"
        )
    return "; ".join(statements)


def register_statements(measurement: str) -> str:
    """Raw register readings of the window and, per series, the last one before it (aliased ``previous``)."""
    statements = []
    for spec in (spec for spec in REGISTERS if spec.measurement == measurement):
        name, measurement = quote_identifier(spec.field), quote_identifier(spec.measurement)
        statements.append(f"SELECT {name} FROM {measurement} WHERE time >= $start AND time < $end GROUP BY *")
        statements.append(
            f'SELECT LAST({name}) AS "previous" FROM {measurement} WHERE time >= $since AND time < $start GROUP BY *'
        )
    return "; ".join(statements)


def _bounds(start_ms: int, end_ms: int, since_ms: int | None = None) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {"start": start_ms * NS_PER_MS, "end": end_ms * NS_PER_MS}
    if since_ms is not None:
        params["since"] = since_ms * NS_PER_MS
    return params


@dataclass(frozen=True, slots=True)
class HourResult:
    minute_points: int
    hour_points: int


async def compute_hour(store: Store, writer: TierWriter, hour_ms: int, *, register_lookback_ms: int) -> HourResult:
    """Roll up the hour starting at ``hour_ms`` into its minute and hour points, and write them. One measurement
    at a time, so an answer holds at most (devices of one type) x 60 rows."""
    if hour_ms % HOUR_MS:
        raise ValueError(f"an hour window starts on a whole UTC hour, not at {hour_ms}")
    end = hour_ms + HOUR_MS
    written = HourResult(0, 0)
    for measurement in BY_MEASUREMENT:
        minutes: Windows = {}
        parse_windows(await store.query(raw_statement(measurement), _bounds(hour_ms, end)), BY_MEASUREMENT, minutes)
        if not minutes:
            continue
        if any(spec.measurement == measurement for spec in REGISTERS):
            since = hour_ms - register_lookback_ms
            _add_increases(await store.query(register_statements(measurement), _bounds(hour_ms, end, since)), minutes)
        minute_lines, hour_lines = lines(minutes), lines(coarsen(minutes, hour_of))
        await writer.write_tier(MINUTE, minute_lines)
        await writer.write_tier(HOUR, hour_lines)
        written = HourResult(written.minute_points + len(minute_lines), written.hour_points + len(hour_lines))
    return written


def _add_increases(answer: list[Series], minutes: Windows) -> None:
    previous: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
    readings: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[tuple[int, float]]] = {}
    by_field = {(spec.measurement, spec.field): spec for spec in REGISTERS}
    for series in answer:
        measurement, tags = series_key(series)
        if series.columns[1:] == ["previous"]:
            value = series.values[0][1] if series.values else None
            spec = next((s for s in REGISTERS if s.measurement == measurement), None)
            if spec is not None and isinstance(value, int | float):
                previous[(measurement, spec.name, tags)] = float(value)
            continue
        spec = by_field.get((measurement, series.columns[1])) if len(series.columns) == 2 else None
        if spec is None:
            continue
        points = [
            (ts, float(value))
            for ts, value in (row[:2] for row in series.values)
            if isinstance(ts, int) and isinstance(value, int | float) and not isinstance(value, bool)
        ]
        readings[(measurement, spec.name, tags)] = points
    for (measurement, name, tags), points in readings.items():
        increases = meter_increases(points, previous.get((measurement, name, tags)), minute_of)
        windows = minutes.setdefault((measurement, tags), {})
        for start, amount in increases.items():
            aggregate = windows.setdefault(start, {}).setdefault(name, Aggregate())
            aggregate.increase = (aggregate.increase or 0.0) + amount


async def compute_day(store: Store, writer: TierWriter, database: str, start_ms: int, end_ms: int) -> int:
    """Combine the local day ``[start, end)`` from the hour roll-ups (minute roll-ups where local midnight is not
    on a UTC hour) into day points stamped ``start_ms``; returns how many were written."""
    answer = await store.query(rollup_statements(database, day_source(start_ms, end_ms)), _bounds(start_ms, end_ms))
    days: Windows = {}
    parse_windows(answer, BY_MEASUREMENT, days)
    stamped = coarsen(days, lambda _start: start_ms)
    day_lines = lines(stamped)
    await writer.write_tier(DAY, day_lines)
    return len(day_lines)
