"""What the worker reads from InfluxDB: roll-up statistics of many devices at once (``rp_1m``, ``rp_1h``), never
raw history. One query per measurement, grouped by device, bind parameters for the window."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from services.quality.findings import HourStat
from smartcity.contract.metrics import METRICS
from smartcity.influx.client import ParamValue, Series, or_missing_database, quote_identifier
from smartcity.rollups import NS_PER_MS, Tier, field, source

StatKey = tuple[str, str]
"""(device, metric)."""


class QueryStore(Protocol):
    """What the worker needs of InfluxDB to read (an :class:`~smartcity.influx.client.InfluxClient`)."""

    async def query(
        self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms"
    ) -> list[Series]: ...


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def decode_stats(answer: Sequence[Series], metrics: Sequence[str]) -> dict[StatKey, list[HourStat]]:
    """Rows of ``<metric>_sum, _count, _min, _max`` per device series as window statistics, oldest first."""
    stats: dict[StatKey, list[HourStat]] = {}
    for series in answer:
        device = series.tags.get("device", "")
        for row in series.records():
            ts = row.get("time")
            if not isinstance(ts, int):
                continue
            for metric in metrics:
                spec = METRICS[metric]
                total, count = _number(row.get(field(spec, "sum"))), _number(row.get(field(spec, "count")))
                low, high = _number(row.get(field(spec, "min"))), _number(row.get(field(spec, "max")))
                if total is None or not count or low is None or high is None:
                    continue
                stats.setdefault((device, metric), []).append(HourStat(ts, total / count, low, high, int(count)))
    for values in stats.values():
        values.sort(key=lambda stat: stat.hour_ms)
    return stats


async def read_stats(
    store: QueryStore, database: str, tier: Tier, metrics: Iterable[str], since_ms: int, until_ms: int
) -> dict[StatKey, list[HourStat]]:
    """Window statistics of ``metrics`` from ``tier`` over ``[since_ms, until_ms)`` for every device."""
    by_measurement: dict[str, list[str]] = {}
    for metric in metrics:
        by_measurement.setdefault(METRICS[metric].measurement, []).append(metric)
    params: dict[str, ParamValue] = {"since": since_ms * NS_PER_MS, "until": until_ms * NS_PER_MS}
    stats: dict[StatKey, list[HourStat]] = {}
    for measurement, names in sorted(by_measurement.items()):
        columns = ", ".join(
            quote_identifier(field(METRICS[name], part)) for name in names for part in ("sum", "count", "min", "max")
        )
        query = (
            f"SELECT {columns} FROM {source(database, tier, measurement)} "
            'WHERE time >= $since AND time < $until GROUP BY "device"'
        )
        answer = await or_missing_database(store.query(query, params))
        if answer is None:
            return {}
        stats.update(decode_stats(answer, names))
    return stats


async def read_sequences(
    store: QueryStore, measurements: Iterable[str], since_ms: int, until_ms: int
) -> dict[str, list[tuple[int, int]]]:
    """Per device, the (timestamp, sequence number) of its raw readings in ``[since_ms, until_ms)`` from each of
    ``measurements`` (every reading line carries its ``seq``), oldest first."""
    params: dict[str, ParamValue] = {"since": since_ms * NS_PER_MS, "until": until_ms * NS_PER_MS}
    found: dict[str, set[tuple[int, int]]] = {}
    for measurement in sorted(set(measurements)):
        query = (
            f'SELECT "seq" FROM {quote_identifier(measurement)} '
            'WHERE time >= $since AND time < $until GROUP BY "device"'
        )
        answer = await or_missing_database(store.query(query, params))
        if answer is None:
            return {}
        for series in answer:
            device = series.tags.get("device", "")
            for ts, seq in ((row[0], row[1]) for row in series.values if len(row) > 1):
                if isinstance(ts, int) and isinstance(seq, int) and not isinstance(seq, bool):
                    found.setdefault(device, set()).add((ts, seq))
    return {device: sorted(points) for device, points in found.items()}
