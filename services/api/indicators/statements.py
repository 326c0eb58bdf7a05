"""The InfluxQL an indicator sends, built in one place, and the reading of its answers.

Identifiers (roll-up sources, fields, tag keys) come from the metric registry, :mod:`smartcity.rollups` and the
fixed tag names below, quoted with :func:`quote_identifier`; every value (the period, district ids, facility kinds)
travels as a bind parameter. Nothing a client sends is part of a statement: the route has looked the indicator
up in the registry and the districts and kinds up in the city model before any statement exists.

Every statement reads a roll-up tier (never raw points) and lets InfluxDB do the sums: one row per device
(``GROUP BY "device"``), or one per window and group (``GROUP BY time(1h), "district"``). Columns are aliased
``<function>_<field>`` (``sum_pm25_count``), so several statements in one request stay apart in the answer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smartcity.contract.metrics import METRICS
from smartcity.influx.client import JsonScalar, ParamValue, Series, quote_identifier
from smartcity.rollups import DAY, NS_PER_MS, Tier, field, source


class GroupBy(enum.StrEnum):
    """What an indicator is computed per; each value is also the roll-ups' tag key."""

    DISTRICT = "district"
    FACILITY_KIND = "facility_kind"


@dataclass(frozen=True, slots=True)
class Filter:
    """Which roll-up points a computation reads: whole windows in ``[start, end)`` and tag restrictions."""

    start_ms: int
    end_ms: int
    districts: tuple[str, ...] = ()
    """Empty: every district."""
    kinds: tuple[str, ...] = ()
    """Empty: every facility kind."""
    exclude: tuple[str, ...] = ()
    """Devices left out (flagged by the quality worker)."""


def where(selected: Filter) -> tuple[str, dict[str, ParamValue]]:
    """The ``WHERE`` clause and its bind parameters: time bounds and ``("district" = $d0 OR ...)``."""
    clauses, params = tag_clauses(selected)
    params |= {"start": selected.start_ms * NS_PER_MS, "end": selected.end_ms * NS_PER_MS}
    return " AND ".join(["time >= $start", "time < $end", *clauses]), params


def tag_clauses(selected: Filter) -> tuple[list[str], dict[str, ParamValue]]:
    """``("district" = $d0 OR "district" = $d1)`` and the like, with their bind parameters."""
    clauses: list[str] = []
    params: dict[str, ParamValue] = {}
    for key, values, prefix in (("district", selected.districts, "d"), ("facility_kind", selected.kinds, "k")):
        if values:
            names = [f"{prefix}{index}" for index in range(len(values))]
            clauses.append("(" + " OR ".join(f"{quote_identifier(key)} = ${name}" for name in names) + ")")
            params |= dict(zip(names, values, strict=True))
    for index, device in enumerate(selected.exclude):
        clauses.append(f'"device" != $x{index}')
        params[f"x{index}"] = device
    return clauses, params


def alias(function: str, column: str) -> str:
    """``SUM`` of ``pm25_count`` is read as ``sum_pm25_count``."""
    return f"{function.lower()}_{column}"


def select(
    columns: Iterable[tuple[str, str]],
    table: str,
    condition: str,
    group: str,
    *,
    tier: Tier | None = None,
    timezone: str | None = None,
) -> str:
    """``SELECT fn(field) AS fn_field, ... FROM table WHERE condition GROUP BY [time(tier), ]"group"``; a day
    tier groups by local days (``tz()``; the zone comes from the validated city model)."""
    chosen = ", ".join(
        f"{function}({quote_identifier(column)}) AS {quote_identifier(alias(function, column))}"
        for function, column in columns
    )
    grouping = quote_identifier(group)
    if tier is not None:
        grouping = f"time({tier.bucket_s}s), {grouping} fill(none)"
        if tier is DAY and timezone is not None:
            grouping += " tz('" + timezone.replace("\\", "\\\\").replace("'", "\\'") + "')"
    return f"SELECT {chosen} FROM {table} WHERE {condition} GROUP BY {grouping}"


def rollup_table(database: str, tier: Tier, metric: str) -> str:
    """The fully qualified roll-up source of a registry metric (``"city"."rp_1h"."air_quality"``)."""
    return source(database, tier, METRICS[metric].measurement)


def parts(metric: str, *names: str) -> list[str]:
    """Roll-up field names of a registry metric: ``parts("pm25", "sum", "count")``."""
    spec = METRICS[metric]
    return [field(spec, name) for name in names]


# -- answers -------------------------------------------------------------------------------------------------------
Totals = dict[str, dict[str, float]]
"""Tag value (a device, a facility) -> column alias -> number."""
WindowSums = dict[str, dict[int, dict[str, float]]]
"""Tag value (a group, a facility) -> window start (ms) -> column alias -> number."""


def _number(value: JsonScalar) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _rows(answer: Sequence[Series], tag: str, column: str) -> Iterable[tuple[str, dict[str, JsonScalar]]]:
    for series in answer:
        if column in series.columns and tag in series.tags:
            for row in series.records():
                yield series.tags[tag], row


def totals(answer: Sequence[Series], tag: str, column: str) -> Totals:
    """Rows grouped by ``tag`` only (one per tag value) of the statements that have ``column``; several
    statements (measurements) for one tag value merge their columns."""
    out: Totals = {}
    for key, row in _rows(answer, tag, column):
        held = out.setdefault(key, {})
        for name, value in row.items():
            number = _number(value)
            if name != "time" and number is not None:
                held[name] = number
    return out


def window_sums(answer: Sequence[Series], tag: str, column: str) -> WindowSums:
    """Rows grouped by time and ``tag`` of the statements that have ``column``."""
    out: WindowSums = {}
    for key, row in _rows(answer, tag, column):
        start = row.get("time")
        if not isinstance(start, int):
            continue
        numbers = {name: n for name, value in row.items() if name != "time" and (n := _number(value)) is not None}
        if numbers:
            out.setdefault(key, {})[start] = numbers
    return out
