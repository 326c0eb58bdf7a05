"""Computing one window: read it with plain InfluxQL (bind parameters for the bounds), write the aggregates back
through the core's line-protocol encoder to ``/write?rp=...``. No ``SELECT ... INTO``: 2.x and 3.x have none.

An hour is read from raw once per measurement (``SELECT <fields> ... GROUP BY *``: its points, one series per
device) and folded in Python into its minute and hour points (:mod:`services.rollup.minutes`). Meter registers
take the last reading before the hour as well, for their reset-aware increases. Measurements go through reading,
folding and writing side by side (:data:`MEASUREMENTS_IN_FLIGHT`), so InfluxDB answers one while the worker folds
another and writes a third. A local day is combined from the hour (or minute) roll-ups already written, with
InfluxQL again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.rollup.aggregate import SeriesKey, Windows, coarsen, lines, parse_windows, series_key
from services.rollup.minutes import fold_hour
from services.rollup.side_by_side import side_by_side
from services.rollup.windows import day_source
from smartcity.contract.metrics import METRICS, MetricSpec, Temporality
from smartcity.influx.client import ParamValue, Series, quote_identifier
from smartcity.rollups import DAY, HOUR, HOUR_MS, MINUTE, NS_PER_MS, Tier, field, rolls_up, source

BY_MEASUREMENT: Mapping[str, Sequence[MetricSpec]] = {
    measurement: [spec for spec in METRICS.values() if spec.measurement == measurement]
    for measurement in sorted({spec.measurement for spec in METRICS.values()})
}
REGISTERS = [spec for spec in METRICS.values() if spec.temporality is Temporality.REGISTER]
MEASUREMENTS_IN_FLIGHT = 3
"""Measurements of an hour being read, folded or written at once: enough that InfluxDB is answering or storing
while the worker folds; each holds its hour's lines in memory until they are written."""
PREVIOUS_STEP_MS = HOUR_MS
"""The reading before an hour is looked for in the hour before it first, and further back (up to the lookback)
only for the meters that have none there: a day of raw register readings is read only after a gap."""
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
    """Every metric field of ``measurement``'s points in ``[start, end)``, one series per device."""
    fields = ", ".join(quote_identifier(spec.field) for spec in BY_MEASUREMENT[measurement])
    return f"SELECT {fields} FROM {quote_identifier(measurement)} WHERE time >= $start AND time < $end GROUP BY *"


def previous_statement(spec: MetricSpec) -> str:
    """Per series, the last reading of register ``spec`` in ``[since, until)`` (aliased ``previous``)."""
    name, measurement = quote_identifier(spec.field), quote_identifier(spec.measurement)
    return f'SELECT LAST({name}) AS "previous" FROM {measurement} WHERE time >= $since AND time < $until GROUP BY *'


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


def _bounds(start_ms: int, end_ms: int) -> dict[str, ParamValue]:
    return {"start": start_ms * NS_PER_MS, "end": end_ms * NS_PER_MS}


@dataclass(frozen=True, slots=True)
class HourResult:
    minute_points: int
    hour_points: int


async def compute_hour(store: Store, writer: TierWriter, hour_ms: int, *, register_lookback_ms: int) -> HourResult:
    """Roll up the hour starting at ``hour_ms`` into its minute and hour points, and write them; returns once
    every point is durable. Raises the first failure of any measurement (the others are abandoned: the hour is
    computed again, whole)."""
    if hour_ms % HOUR_MS:
        raise ValueError(f"an hour window starts on a whole UTC hour, not at {hour_ms}")
    limit = asyncio.Semaphore(MEASUREMENTS_IN_FLIGHT)

    async def one(measurement: str) -> HourResult:
        async with limit:
            answer = await store.query(raw_statement(measurement), _bounds(hour_ms, hour_ms + HOUR_MS))
            previous = await _previous(store, measurement, answer, hour_ms, register_lookback_ms)
            folded = fold_hour(answer, BY_MEASUREMENT[measurement], hour_ms, previous)
            del answer  # the raw rows are the larger part of a measurement's memory: not kept while writing
            if folded.minute_lines:
                await writer.write_tier(MINUTE, folded.minute_lines)
                await writer.write_tier(HOUR, folded.hour_lines)
            return HourResult(len(folded.minute_lines), len(folded.hour_lines))

    async with side_by_side() as group:
        tasks = [group.create_task(one(measurement), name=f"rollup-{measurement}") for measurement in BY_MEASUREMENT]
    results = [task.result() for task in tasks]
    return HourResult(sum(r.minute_points for r in results), sum(r.hour_points for r in results))


async def _previous(
    store: Store, measurement: str, answer: list[Series], hour_ms: int, lookback_ms: int
) -> dict[tuple[SeriesKey, str], float]:
    """(series, register field) -> the series' last reading of the register before the hour (within the
    lookback), for the series that have readings of it in the hour."""
    found: dict[tuple[SeriesKey, str], float] = {}
    oldest = hour_ms - lookback_ms
    steps = [(max(oldest, hour_ms - PREVIOUS_STEP_MS), hour_ms)]
    if steps[0][0] > oldest:
        steps.append((oldest, steps[0][0]))
    for spec in (spec for spec in REGISTERS if spec.measurement == measurement):
        wanted = {(series_key(series), spec.field) for series in answer if _has(series, spec.field)}
        for since, until in steps:
            if not wanted - found.keys():
                break
            params: dict[str, ParamValue] = {"since": since * NS_PER_MS, "until": until * NS_PER_MS}
            for series in await store.query(previous_statement(spec), params):
                key = (series_key(series), spec.field)
                value = series.values[0][1] if series.values and len(series.values[0]) > 1 else None
                if (
                    key in wanted
                    and key not in found
                    and isinstance(value, int | float)
                    and not isinstance(value, bool)
                ):
                    found[key] = float(value)
    return found


def _has(series: Series, name: str) -> bool:
    """Whether ``series`` has a value of field ``name`` in any row."""
    if name not in series.columns:
        return False
    at = series.columns.index(name)
    return any(row[at] is not None for row in series.values)


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
