"""History: which resolution answers a request, how many points it would return, and its output formats.

:func:`choose_resolution` is the one place that decides how a request is answered: the bucket size (asked, or
the finest under the point cap for ``auto``) and the coarsest roll-up tier that answers it exactly
(:func:`smartcity.rollups.coarsest_tier`; none for p95, which needs raw points). :func:`read_history` then reads the
whole windows the roll-up worker has completed from the roll-ups and the rest (a partial first bucket, the
windows not rolled up yet) from raw points, in one request; the buckets never overlap.
"""

from __future__ import annotations

import asyncio
import csv
import enum
import io
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from services.api.problems import ApiProblem
from services.api.queries import Agg, history_query, rollup_query
from services.api.schemas import Value, iso
from smartcity.city.model import Device
from smartcity.contract.metrics import MetricKind, MetricSpec
from smartcity.contract.reading import Reading
from smartcity.contract.senml import encode_senml_json
from smartcity.influx.client import InfluxClient, ParamValue, Series
from smartcity.rollups import LocalDays, Tier, coarsest_tier, window_ceil, window_floor


class Resolution(enum.StrEnum):
    RAW = "raw"
    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"
    AUTO = "auto"


T = TypeVar("T")

BUCKET_S = {Resolution.MINUTE: 60, Resolution.HOUR: 3600, Resolution.DAY: 86_400}
_NUMERIC = (MetricKind.FLOAT, MetricKind.INT)


def aggregations_for(metric: MetricSpec) -> list[Agg]:
    """What InfluxQL can aggregate for a metric's type: everything for numbers, only ``count`` for booleans and
    text (InfluxQL has no mean or minimum of them)."""
    return list(Agg) if metric.kind in _NUMERIC else [Agg.COUNT]


@dataclass(frozen=True, slots=True)
class Plan:
    """How a history request is answered."""

    resolution: Resolution
    bucket_s: int | None
    """None: raw points."""
    points: int
    """The estimated number of points of the answer."""
    tier: Tier | None = None
    """The roll-up tier that answers the completed windows (None: raw points only)."""


def raw_points(devices: Sequence[Device], span_ms: int) -> int:
    """Estimated raw points: each device's span / report interval."""
    return sum(math.ceil(span_ms / (device.report_interval_s * 1000)) for device in devices)


def bucket_points(span_ms: int, bucket_s: int) -> int:
    """Buckets a span touches (epoch-aligned buckets: one more when the start falls inside one)."""
    return math.ceil(span_ms / (bucket_s * 1000)) + 1


def choose_resolution(
    requested: Resolution, *, span_ms: int, devices: Sequence[Device], max_points: int, agg: Agg | None = None
) -> Plan:
    """The plan for a request, or 422 naming the limit when it would return more than ``max_points``.

    ``auto`` takes the finest of 1m, 1h and 1d whose answer fits under the limit (one value per bucket over the
    whole selection); the plan's tier is the coarsest roll-up that answers its buckets (none for p95 or raw)."""
    if requested is Resolution.RAW:
        plan = Plan(requested, None, raw_points(devices, span_ms))
    elif requested is Resolution.AUTO:
        candidates = [Plan(r, BUCKET_S[r], bucket_points(span_ms, BUCKET_S[r])) for r in BUCKET_S]
        plan = next((c for c in candidates if c.points <= max_points), candidates[-1])
    else:
        plan = Plan(requested, BUCKET_S[requested], bucket_points(span_ms, BUCKET_S[requested]))
    if plan.points > max_points:
        raise too_many_points(plan.points, max_points)
    if plan.bucket_s is not None:
        tier = coarsest_tier(plan.bucket_s, percentile=agg is Agg.P95)
        plan = Plan(plan.resolution, plan.bucket_s, plan.points, tier)
    return plan


async def read_history(
    influx: InfluxClient,
    metric: MetricSpec,
    scope: str,
    ident: str,
    span: tuple[int, int],
    plan: Plan,
    agg: Agg,
    *,
    timezone: str,
    limit: int,
    cut: tuple[int, int],
    closed: Callable[[str, dict[str, ParamValue]], Awaitable[T]],
) -> tuple[list[Series], T | None]:
    """The answer's pieces: raw points for what is not rolled up (a partial first bucket, the windows after the
    ``cut`` of :func:`rollup_cut`; ``GROUP BY time`` over them, or every point for raw plans, at most ``limit``) in
    one request, and what ``closed`` makes of the roll-up statement over the ``cut`` (None when it is empty), read
    alongside."""
    start_ms, end_ms = span
    statements: list[str] = []
    params: dict[str, ParamValue] = {}
    kept: Awaitable[T] | None = None
    for piece_start, piece_end, from_rollup in ((start_ms, cut[0], False), (*cut, True), (cut[1], end_ms, False)):
        if piece_start >= piece_end:
            continue
        if from_rollup and plan.tier is not None:
            query, values = rollup_query(
                metric,
                scope,
                ident,
                piece_start,
                piece_end,
                plan.tier,
                agg,
                database=influx.settings.database,
                timezone=timezone,
                bucket_s=plan.bucket_s,
            )
            kept = closed(query, values)
            continue
        query, values = history_query(metric, scope, ident, piece_start, piece_end, plan.bucket_s, agg, timezone)
        values = {("head" if piece_start == start_ms else "tail") + k: v for k, v in values.items()}
        query = _renamed(query, "head" if piece_start == start_ms else "tail")
        if plan.bucket_s is None:
            query += f" LIMIT {limit}"  # a device reporting faster than its interval
        statements.append(query)
        params |= values
    if kept is None:
        return await influx.query("; ".join(statements), params), None
    if not statements:
        return [], await kept
    rolled_up, rest = await asyncio.gather(kept, influx.query("; ".join(statements), params))
    return rest, rolled_up


def rollup_cut(span: tuple[int, int], plan: Plan, completed: int | None, timezone: str) -> tuple[int, int]:
    """The part of ``span`` answered from roll-ups: the plan's tier windows wholly inside it that end by
    ``completed`` (empty, at the start, without a tier or progress). Equal to ``span``: no raw point is read."""
    start_ms, end_ms = span
    if plan.tier is None or completed is None:
        return (start_ms, start_ms)
    days = LocalDays(timezone)
    low = window_ceil(start_ms, plan.tier, days)
    return (low, max(low, min(completed, window_floor(end_ms, plan.tier, days))))


def _renamed(query: str, prefix: str) -> str:
    """Two raw pieces in one request need bind parameters of their own."""
    for name in ("$ident", "$start", "$end"):
        query = query.replace(name, "$" + prefix + name[1:])
    return query


def too_many_points(points: int, max_points: int) -> ApiProblem:
    return ApiProblem(
        422,
        "too-many-points",
        f"the answer would hold about {points:,} points, more than the limit of {max_points:,} points per request "
        "(max_points, SMARTCITY_API_MAX_POINTS): shorten start..end or choose a coarser resolution",
    )


class Point(NamedTuple):
    """One value of an answer (a tuple: an answer has up to ``max_points`` of them to build and sort)."""

    ts_ms: int
    value: Value
    device: str | None = None


def to_json(points: Sequence[Point]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for point in points:
        item: dict[str, object] = {"time": iso(point.ts_ms), "value": point.value}
        if point.device is not None:
            item["device"] = point.device
        out.append(item)
    return out


def to_csv(points: Sequence[Point], *, raw: bool) -> str:
    """``time,value`` (``time,device,value`` for raw points); booleans as true/false."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["time", "device", "value"] if raw else ["time", "value"])
    for point in points:
        value = str(point.value).lower() if isinstance(point.value, bool) else point.value
        writer.writerow([iso(point.ts_ms), point.device, value] if raw else [iso(point.ts_ms), value])
    return buffer.getvalue()


def to_senml(points: Sequence[Point], metric: MetricSpec, *, name: str, unit: bool) -> bytes:
    """A SenML JSON pack through the contract's encoder: one base name per device for raw points (``<device>:``),
    ``<scope>:<id>:`` for aggregated ones; ``bu`` carries the metric's unit unless the values are counts."""
    by_name: dict[str, list[Reading]] = {}
    for point in points:
        by_name.setdefault(point.device or name, []).append(
            Reading(point.device or name, None, point.ts_ms, {metric.name: point.value})
        )
    records: list[dict[str, object]] = []
    for readings in by_name.values():
        pack = json.loads(encode_senml_json(readings))
        if unit and metric.unit:
            pack[0]["bu"] = metric.unit
        records += pack
    return json.dumps(records, separators=(",", ":")).encode()
