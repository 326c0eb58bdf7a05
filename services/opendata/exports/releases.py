"""Person-related datasets as the privacy engine's fixed releases (docs/PRIVACY.md): never rows the caller shapes.

The city's occupancy policy (:func:`services.opendata.privacy.defaults.occupancy_policy`) fixes the grid: areas
(districts or the city, from the city model), facility kinds or kind groups, windows of the city's local clock, and
the period one release covers (a local day). An export covers whole periods (``start`` down and ``end`` up to
period boundaries) and, per period, builds the grid's finest cells from the hourly roll-ups, has the engine publish
them, and sends every cell of the release that is about the dataset's kind (or the kind group the policy releases
it in), at every area and window level, with its treatment; a value only where the engine published one.

A finest cell's value is the people present in its district's facilities of its kind in its window: per facility
the mean of its counters' readings in the window (sum of ``occupancy_sum`` over sum of ``occupancy_count``: each
counter counts the people present at the facility, so they are averaged, not added), added up over the
facilities that reported. Its facilities are those that reported in the window: a cell where none did is empty.
A period without a single roll-up point is left out (nothing was measured, so there is nothing to release).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from fractions import Fraction

from services.api.catalogue import CityIndex
from services.api.problems import invalid, not_found
from services.api.schemas import iso
from services.opendata.datasets import OpenDataset
from services.opendata.exports.columns import Value, layout_of
from services.opendata.exports.reader import Row
from services.opendata.exports.request import (
    ExportRequest,
    Place,
    check_period,
    check_rows,
    not_published,
    to_ms,
)
from services.opendata.privacy import InputCell, PrivacyPolicy, ReleasedCell, publish
from services.opendata.privacy import windows as win
from services.opendata.privacy.defaults import occupancy_policy
from services.opendata.privacy.policy import CITY_AREA, DISTRICT_LEVEL
from services.opendata.spatial import bounding_box, box_ring
from smartcity.city.model import FacilityKind, GeoPoint
from smartcity.contract.metrics import METRICS
from smartcity.influx.client import InfluxClient, ParamValue, Series, quote_identifier
from smartcity.rollups import HOUR, field, source

NS_PER_MS = 1_000_000


def kind_node(policy: PrivacyPolicy, kind: FacilityKind) -> str | None:
    """The node of the policy's kind axis that releases ``kind``: the kind, or its group; None when the policy
    does not cover it."""
    if kind not in policy.kinds:
        return None
    for group, kinds in policy.kind_groups.items():
        if kind in kinds:
            return group
    return kind.value


def periods(policy: PrivacyPolicy, start_ms: int, end_ms: int) -> list[win.Window]:
    """The release periods that tile ``[start, end)`` (both on period boundaries)."""
    found: list[win.Window] = []
    cut = start_ms
    while cut < end_ms:
        found.append(win.period_of(policy.period, policy.timezone, cut))
        cut = found[-1][1]
    return found


def release_period(policy: PrivacyPolicy, start_ms: int | None, end_ms: int | None, now_ms: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole periods; by default the last complete period before now."""
    end = win.period_of(policy.period, policy.timezone, now_ms)[0] if end_ms is None else end_ms
    if end_ms is not None and win.period_of(policy.period, policy.timezone, end)[0] != end:
        end = win.period_of(policy.period, policy.timezone, end)[1]
    start = win.period_of(policy.period, policy.timezone, end - 1 if start_ms is None else start_ms)[0]
    return start, end


def release_request(
    dataset: OpenDataset,
    index: CityIndex,
    *,
    start: datetime | None,
    end: datetime | None,
    district: str | None,
    now_ms: int,
) -> ExportRequest:
    """The checked request for a person-related dataset: whole periods of the city's occupancy policy; 404 when
    the policy does not release the dataset's kind, 422 for a district when the grid's finest areas are not the
    districts (a district's cells are then not released at all) and beyond the caps."""
    layout = layout_of(dataset)
    policy = occupancy_policy(index.city)
    node = kind_node(policy, dataset.facility_kinds[0])
    if node is None:
        raise not_published(dataset, "the city's occupancy policy does not release its facility kind")
    if district is not None:
        if district not in index.districts:
            raise not_found("district", district)
        if policy.finest_area != DISTRICT_LEVEL:
            reason = f"the city's releases are per {policy.finest_area}: too few facilities per district for any"
            raise invalid("query.district", reason)
    asked_start, asked_end = to_ms(start, "query.start"), to_ms(end, "query.end")
    start_ms, end_ms = release_period(policy, asked_start, asked_end, now_ms)
    if start_ms >= end_ms:
        raise invalid("query.start", "must be before end (after both are widened to whole release periods)")
    check_period(dataset, start_ms, end_ms)
    places = release_places(index, policy)
    spans = periods(policy, start_ms, end_ms)
    rows = len(spans) * rows_per_period(policy, 1 if district else len(places), spans[0])
    check_rows(dataset, rows)
    return ExportRequest(layout, start_ms, end_ms, district, places, rows, None, policy, node)


def _ring(points: Sequence[GeoPoint]) -> tuple[tuple[float, float], ...]:
    return tuple((point.lon, point.lat) for point in points)


def release_places(index: CityIndex, policy: PrivacyPolicy) -> dict[str, Place]:
    """Every area of the grid with its outline: districts, the policy's groupings, the city."""
    places: dict[str, Place] = {}
    for district in index.city.districts:
        centre = district.centre
        places[district.id] = Place(
            district.id, "", "", district.id, centre.lat, centre.lon, 3600, 0, _ring(district.polygon)
        )
    groups = [(area, members) for grouping in policy.area_groupings for area, members in grouping.areas.items()]
    groups.append((CITY_AREA, tuple(index.districts)))
    for area, members in groups:
        boxes = [index.districts[member].bbox for member in members if member in index.districts]
        if not boxes:
            continue
        box = bounding_box(boxes)
        lat, lon = (box.min_lat + box.max_lat) / 2, (box.min_lon + box.max_lon) / 2
        places[area] = Place(area, "", "", area, lat, lon, 3600, 0, _ring(box_ring(box)))
    return places


def rows_per_period(policy: PrivacyPolicy, areas: int, first_period: win.Window) -> int:
    """Most cells of one release about one kind node: every area at every window level."""
    windows = sum(len(win.windows(span, policy.timezone, first_period)) for span in policy.window_levels)
    return areas * windows


async def _input_cells(
    influx: InfluxClient, request: ExportRequest, policy: PrivacyPolicy, index: CityIndex, period: win.Window
) -> list[InputCell] | None:
    spec = METRICS[request.dataset.metrics[0]]
    parts = [quote_identifier(field(spec, part)) for part in ("sum", "count")]
    kinds = [kind.value for kind in policy.kinds]
    any_kind = " OR ".join(f'"facility_kind" = $kind{i}' for i in range(len(kinds)))
    table = source(influx.settings.database, HOUR, request.layout.measurement)
    query = f"SELECT {', '.join(parts)} FROM {table} WHERE time >= $start AND time < $end AND ({any_kind}) "
    query += 'GROUP BY "facility"'
    params: dict[str, ParamValue] = {f"kind{i}": kind for i, kind in enumerate(kinds)}
    params |= {"start": period[0] * NS_PER_MS, "end": period[1] * NS_PER_MS}
    answer: list[Series] = await influx.query(query, params)
    windows = win.windows(policy.window, policy.timezone, period)
    starts = [start for start, _ in windows]
    sums: dict[tuple[str, int], list[float]] = {}
    for series in answer:
        facility = series.tags.get("facility", "")
        if facility not in index.facilities:
            continue
        for ts, total, count in series.values:
            if isinstance(ts, int) and isinstance(total, int | float) and isinstance(count, int | float) and count:
                acc = sums.setdefault((facility, bisect.bisect_right(starts, ts) - 1), [0.0, 0.0])
                acc[0] += total
                acc[1] += count
    if not sums:
        return None
    present: dict[tuple[str, str, int], float] = {}
    reported: dict[tuple[str, str, int], int] = {}
    for (ident, window), (total, count) in sums.items():
        facility_of = index.facilities[ident]
        key = (facility_of.district_id, facility_of.kind.value, starts[window])
        present[key] = present.get(key, 0.0) + total / count
        reported[key] = reported.get(key, 0) + 1
    grid = [(district, kind, start) for district in index.districts for kind in kinds for start in starts]
    return [InputCell(*key, Fraction(present.get(key, 0.0)), reported.get(key, 0)) for key in grid]


def _row(cell: ReleasedCell) -> Row:
    value = cell.value
    shown: Value = float(value) if isinstance(value, Fraction) else value
    labels: tuple[Value, ...] = (
        iso(cell.window_end_ms),
        cell.window_level,
        cell.area_level,
        cell.kind,
        cell.kind_level,
    )
    return (cell.window_start_ms, cell.area, (*labels, cell.facilities, shown, cell.label))


async def read_release_rows(
    influx: InfluxClient, request: ExportRequest, index: CityIndex
) -> AsyncGenerator[list[Row], None]:
    """The rows of each period's release, one list per period (periods without data are left out)."""
    node, policy = request.kind_node, request.policy
    if policy is None:
        raise ValueError(f"{request.dataset.id} is not released by the privacy engine")
    level = {name: rank for rank, name in enumerate(policy.area_levels)}
    for period in periods(policy, request.start_ms, request.end_ms):
        cells = await _input_cells(influx, request, policy, index, period)
        if cells is None:
            continue
        release = publish(policy, list(index.districts), period[0], cells)
        chosen = [
            cell
            for cell in release.cells
            if cell.kind == node and (request.district is None or cell.area == request.district)
        ]
        chosen.sort(key=lambda c: (c.window_start_ms, c.window_end_ms, level.get(c.area_level, math.inf), c.area))
        yield [_row(cell) for cell in chosen]
