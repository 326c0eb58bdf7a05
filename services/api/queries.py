"""Every InfluxQL statement the API sends, built in one place.

Identifiers (measurements, fields, tag keys) come from the metric registry and fixed names, quoted with
:func:`quote_identifier`; every value (ids, times) travels as a bind parameter. Nothing a client sends is ever
part of the query text: ids are looked up in the city model before a query is built, metric names in the registry.
"""

from __future__ import annotations

import enum

from smartcity.contract.metrics import METRICS, MetricSpec
from smartcity.influx.client import ParamValue, quote_identifier
from smartcity.rollups import DAY, Tier, field
from smartcity.rollups import source as rollup_source

NS_PER_MS = 1_000_000


class Agg(enum.StrEnum):
    """How the points of one time bucket become one value."""

    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    P95 = "p95"


_FUNCTIONS = {
    Agg.MEAN: "MEAN({})",
    Agg.MIN: "MIN({})",
    Agg.MAX: "MAX({})",
    Agg.SUM: "SUM({})",
    Agg.COUNT: "COUNT({})",
    Agg.P95: "PERCENTILE({}, 95)",
}

SCOPES = ("device", "facility", "district")
"""What a readings request selects by; each is also the InfluxDB tag key that selects it."""


def latest_query(since_ms: int) -> tuple[str, dict[str, ParamValue]]:
    """One ``SELECT LAST`` per metric, newest value of each device since ``since_ms``, in one request.

    One statement per metric (not ``LAST(*)``): with several selectors InfluxDB reports the window start as the
    time, and each metric's own time is what "latest" means."""
    statements = [
        f"SELECT LAST({quote_identifier(spec.field)}) AS {quote_identifier(spec.name)} "
        f'FROM {quote_identifier(spec.measurement)} WHERE time >= $since GROUP BY "device"'
        for spec in METRICS.values()
    ]
    return "; ".join(statements), {"since": since_ms * NS_PER_MS}


def history_query(
    metric: MetricSpec,
    scope: str,
    ident: str,
    start_ms: int,
    end_ms: int,
    bucket_s: int | None,
    agg: Agg,
    timezone: str | None = None,
) -> tuple[str, dict[str, ParamValue]]:
    """The points of ``metric`` for one device, facility or district in ``[start, end)``.

    ``bucket_s`` None: raw points, one series per device. Otherwise one value per bucket of ``bucket_s`` seconds
    (aligned to the Unix epoch; days are local days of ``timezone`` when given) over all devices of the selection;
    empty buckets are left out."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
    field = quote_identifier(metric.field)
    where = f"WHERE {quote_identifier(scope)} = $ident AND time >= $start AND time < $end"
    params: dict[str, ParamValue] = {"ident": ident, "start": start_ms * NS_PER_MS, "end": end_ms * NS_PER_MS}
    source = quote_identifier(metric.measurement)
    if bucket_s is None:
        return f'SELECT {field} AS "value" FROM {source} {where} GROUP BY "device"', params
    select = _FUNCTIONS[agg].format(field)
    grouping = f"GROUP BY time({bucket_s}s) fill(none){_tz(bucket_s, timezone)}"
    return f'SELECT {select} AS "value" FROM {source} {where} {grouping}', params


_FROM_ROLLUP = {Agg.MIN: "MIN({min})", Agg.MAX: "MAX({max})", Agg.SUM: "SUM({sum})", Agg.COUNT: "SUM({count})"}
_FROM_ROLLUP[Agg.MEAN] = "SUM({sum}) / SUM({count})"  # sums over counts: the exact mean of every raw point
_FROM_WINDOW = {Agg.MIN: "{min}", Agg.MAX: "{max}", Agg.SUM: "{sum}", Agg.COUNT: "{count}", Agg.MEAN: "{sum} / {count}"}
"""One device's value per window when the bucket is the tier's own window: its one roll-up point holds it."""


def rollup_query(
    metric: MetricSpec,
    scope: str,
    ident: str,
    start_ms: int,
    end_ms: int,
    tier: Tier,
    agg: Agg,
    *,
    database: str,
    timezone: str,
    bucket_s: int | None = None,
) -> tuple[str, dict[str, ParamValue]]:
    """One value per ``tier`` window in ``[start, end)`` (window-aligned bounds) from the roll-ups, combined over
    the selection's devices exactly as the raw query would (no p95: roll-ups keep no distribution).

    A device asked at the tier's own resolution (``bucket_s`` = the tier's window) has one roll-up point per
    window, which is the answer: its fields are selected without ``GROUP BY time`` (a third of the time)."""
    if scope not in SCOPES or agg not in _FROM_ROLLUP:
        raise ValueError(f"no roll-up answers scope {scope!r} with agg {agg.value!r}")
    parts = {part: quote_identifier(field(metric, part)) for part in ("sum", "count", "min", "max")}
    where = f"WHERE {quote_identifier(scope)} = $ident AND time >= $rstart AND time < $rend"
    params: dict[str, ParamValue] = {"ident": ident, "rstart": start_ms * NS_PER_MS, "rend": end_ms * NS_PER_MS}
    table = rollup_source(database, tier, metric.measurement)
    if scope == "device" and bucket_s == tier.bucket_s:
        return f'SELECT {_FROM_WINDOW[agg].format(**parts)} AS "value" FROM {table} {where}', params
    select = _FROM_ROLLUP[agg].format(**parts)
    grouping = f"GROUP BY time({tier.bucket_s}s) fill(none){_tz(tier.bucket_s, timezone)}"
    return f'SELECT {select} AS "value" FROM {table} {where} {grouping}', params


def _tz(bucket_s: int, timezone: str | None) -> str:
    """``tz('Europe/Berlin')`` for day buckets: local midnights. The name comes from the validated city model."""
    if timezone is None or bucket_s % DAY.bucket_s:
        return ""
    return " tz('" + timezone.replace("\\", "\\\\").replace("'", "\\'") + "')"
