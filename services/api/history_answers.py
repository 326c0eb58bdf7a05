"""History answers encoded: whole (:func:`encode_history`), or spliced from a kept roll-up part and raw pieces
(:func:`splice_history`).

A history that reaches past the completed windows (any "last 7 days") is, in time order, a partial first bucket
from raw points, the completed windows from the roll-ups, and the newest buckets from raw points; buckets never
overlap. The middle, nearly all of the answer, is the same on every request until the roll-up worker redoes a
window, so for JSON and CSV it is kept encoded (:func:`encode_fragment`, its points without the brackets or header)
and each request encodes only the raw pieces around it. SenML and raw points are encoded whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from services.api.answers import Answer
from services.api.catalogue import Selection
from services.api.history import Plan, Point, to_csv, to_json, to_senml, too_many_points
from services.api.queries import Agg
from services.api.schemas import iso
from smartcity.contract.metrics import MetricSpec
from smartcity.influx.client import Series

_JSON = msgspec.json.Encoder()
SPLICED_FORMATS = ("json", "csv")
"""Formats whose answers are spliced from pieces (:func:`splice_history`)."""


@dataclass(frozen=True, slots=True)
class HistoryAsked:
    """What a history answer says about its request."""

    spec: MetricSpec
    selection: Selection
    plan: Plan
    agg: Agg
    span: tuple[int, int]
    format: str
    max_points: int

    @property
    def raw(self) -> bool:
        return self.plan.bucket_s is None


def points_of(series: Sequence[Series], *, raw: bool) -> list[Point]:
    """The answer's points in time order (raw points by time, then device); rows without a value are left out."""
    points: list[Point] = []
    for one in series:
        device = one.tags.get("device") if raw else None
        points += [
            Point(ts, value, device)
            for ts, value in one.values
            if isinstance(ts, int) and value is not None and not isinstance(value, list)
        ]
    points.sort(key=_by_time_and_device if raw else _by_time)  # buckets have no device
    return points


def _by_time(point: Point) -> int:
    return point.ts_ms


def _by_time_and_device(point: Point) -> tuple[int, str]:
    return point.ts_ms, point.device or ""


def encode_history(series: Sequence[Series], asked: HistoryAsked) -> Answer:
    """The whole answer in the asked format."""
    points = points_of(series, raw=asked.raw)
    if len(points) > asked.max_points:
        raise too_many_points(len(points), asked.max_points)
    if asked.format == "csv":
        return Answer(to_csv(points, raw=asked.raw).encode(), len(points))
    if asked.format == "senml":
        name = f"{asked.selection.scope}:{asked.selection.ident}"
        unit = asked.raw or asked.agg is not Agg.COUNT
        return Answer(to_senml(points, asked.spec, name=name, unit=unit), len(points))
    return _json_answer(_JSON.encode(to_json(points))[1:-1], len(points), asked)


def encode_fragment(series: Sequence[Series], format: str) -> Answer:
    """The buckets of ``series`` as a piece of an answer (:func:`encode_points`)."""
    points = points_of(series, raw=False)
    return Answer(encode_points(points, format), len(points))


def splice_history(raw: Sequence[Series], kept: Answer | None, cut: tuple[int, int], asked: HistoryAsked) -> Answer:
    """The answer from the raw pieces' series and the kept roll-up part covering ``cut``: raw buckets before the
    cut, the kept part, raw buckets from its end."""
    points = points_of(raw, raw=False)
    head = [point for point in points if point.ts_ms < cut[0]]
    tail = [point for point in points if point.ts_ms >= cut[1]]
    rows = len(head) + len(tail) + (kept.rows if kept is not None else 0)
    if rows > asked.max_points:
        raise too_many_points(rows, asked.max_points)
    parts = [encode_points(head, asked.format), kept.body if kept else b"", encode_points(tail, asked.format)]
    if asked.format == "csv":
        return Answer(b"time,value\n" + b"".join(parts), rows)
    return _json_answer(b",".join(part for part in parts if part), rows, asked)


def encode_points(points: list[Point], format: str) -> bytes:
    """Buckets as a piece of an answer: JSON objects joined by commas, or CSV rows (no header)."""
    if not points:
        return b""
    if format == "csv":
        return to_csv(points, raw=False).encode().partition(b"\n")[2]
    return _JSON.encode(to_json(points))[1:-1]


def _json_answer(points: bytes, rows: int, asked: HistoryAsked) -> Answer:
    """``{...,"points":[<points>]}``: the request's fields, then the points (encoded apart, spliced in)."""
    raw, spec, agg = asked.raw, asked.spec, asked.agg
    head = {
        "metric": spec.name,
        "unit": spec.unit if raw or agg is not Agg.COUNT else "count",
        "scope": asked.selection.scope,
        "id": asked.selection.ident,
        "resolution": asked.plan.resolution.value,
        "agg": None if raw else agg.value,
        "start": iso(asked.span[0]),
        "end": iso(asked.span[1]),
    }
    return Answer(b"".join((_JSON.encode(head)[:-1], b',"points":[', points, b"]}")), rows)
