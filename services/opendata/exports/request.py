"""One export request, checked before the first byte is sent: the dataset (404 unknown, 404 not published yet
for person-related data), the period aligned to the dataset's temporal granularity (422 for bad dates), the
district (404 unknown), the places that contribute, and the dataset's caps (422 naming the cap).

Periods: ``start`` inclusive, ``end`` exclusive, UTC when no offset is given. Readings as measured keep the
instants asked for (to the millisecond); hourly data widens them to whole UTC hours (``start`` down, ``end`` up),
daily data to local days of the city's time zone. Without ``end`` the period ends now (hourly and daily data: at
the start of the current window, the last one that can be complete); without ``start`` it is the day before
``end``.

Rows are estimated from the city model before anything is read: per sensor, each contributing device's period
over its report interval; per facility, facilities times windows. A request whose estimate exceeds the dataset's
``max_rows``, or whose period exceeds ``max_days``, is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.api.catalogue import CityIndex
from services.api.problems import ApiProblem, InvalidParam, invalid, not_found
from services.opendata.datasets import DATASETS, OpenDataset, TemporalGranularity
from services.opendata.exports.columns import Layout, layout_of
from services.opendata.privacy import PrivacyPolicy
from smartcity.contract.metrics import DEVICE_METRICS
from smartcity.rollups import DAY, DAY_MS, HOUR_MS, LocalDays, window_ceil

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a row is: a sensor (device) or a facility, with the city model's location of it."""

    id: str
    facility: str
    facility_kind: str
    district: str
    lat: float
    lon: float
    interval_s: int
    """A sensor's report interval; for a facility, the shortest of its devices'."""
    devices: int = 1
    ring: tuple[tuple[float, float], ...] = ()
    """An area's outline (longitude, latitude), closed; empty for a point."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    layout: Layout
    start_ms: int
    end_ms: int
    district: str | None
    places: Mapping[str, Place]
    """Place id (device or facility) -> place; rows of any other place are not published."""
    rows_estimate: int
    window_ms: int | None
    """Length of one row's window (hourly data); None for readings as measured and releases."""
    policy: PrivacyPolicy | None = None
    """The privacy policy of a person-related dataset's releases."""
    kind_node: str | None = None
    """The kind or kind group of the policy's grid that releases the dataset's kind."""

    @property
    def dataset(self) -> OpenDataset:
        return self.layout.dataset


def dataset_of(ident: str) -> OpenDataset:
    """The dataset behind an export URL: 404 for an unknown one."""
    dataset = DATASETS.get(ident)
    if dataset is None:
        raise not_found("dataset", ident)
    return dataset


def not_published(dataset: OpenDataset, why: str) -> ApiProblem:
    return ApiProblem(404, "not-published", f"dataset {dataset.id!r} is person-related and not published yet: {why}")


def to_ms(moment: datetime | None, name: str) -> int | None:
    """A query's instant as UTC ms (no offset: UTC); 422 outside 1970..2200."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not _EARLIEST <= moment < _LATEST:
        raise invalid(name, "must lie between 1970-01-01 and 2200-01-01")
    return (moment - _EARLIEST) // timedelta(milliseconds=1)


def period(
    dataset: OpenDataset, start: datetime | None, end: datetime | None, *, now_ms: int, timezone: str
) -> tuple[int, int]:
    """``[start, end)`` in ms, aligned to the dataset's temporal granularity; 422 for dates out of range or a
    start that is not before the end."""
    temporal = dataset.temporal
    days = LocalDays(timezone)

    def floor(ms: int) -> int:
        if temporal is TemporalGranularity.HOUR:
            return ms // HOUR_MS * HOUR_MS
        return days.start_of(ms) if temporal is TemporalGranularity.LOCAL_DAY else ms

    def ceil(ms: int) -> int:
        if temporal is TemporalGranularity.HOUR:
            return -(-ms // HOUR_MS) * HOUR_MS
        return window_ceil(ms, DAY, days) if temporal is TemporalGranularity.LOCAL_DAY else ms

    asked_end, asked_start = to_ms(end, "query.end"), to_ms(start, "query.start")
    end_ms = ceil(asked_end) if asked_end is not None else floor(now_ms)
    if asked_start is not None:
        start_ms = floor(asked_start)
    elif temporal is TemporalGranularity.LOCAL_DAY:
        start_ms = days.start_of(end_ms - 1)
    else:
        start_ms = end_ms - DAY_MS
    if start_ms >= end_ms:
        raise invalid("query.start", "must be before end (after both are aligned to the dataset's granularity)")
    return start_ms, end_ms


def places_of(layout: Layout, index: CityIndex, district: str | None) -> dict[str, Place]:
    """The sensors or facilities of the city model that contribute to a dataset (in one district, or all)."""
    dataset = layout.dataset
    kinds = set(dataset.facility_kinds)
    metrics = set(dataset.metrics)
    places: dict[str, Place] = {}
    for device in index.city.devices:
        facility = index.facilities.get(device.facility_id)
        if facility is None or facility.kind not in kinds or not metrics.intersection(DEVICE_METRICS[device.type]):
            continue
        if district is not None and device.district_id != district:
            continue
        if layout.per_sensor:
            where = device.location
            places[device.id] = Place(
                device.id,
                facility.id,
                facility.kind.value,
                device.district_id,
                where.lat,
                where.lon,
                device.report_interval_s,
            )
            continue
        known = places.get(facility.id)
        interval = device.report_interval_s if known is None else min(known.interval_s, device.report_interval_s)
        count = 1 if known is None else known.devices + 1
        where = facility.location
        places[facility.id] = Place(
            facility.id, facility.id, facility.kind.value, facility.district_id, where.lat, where.lon, interval, count
        )
    return dict(sorted(places.items()))


def estimate_rows(layout: Layout, places: Mapping[str, Place], span_ms: int, window_ms: int | None) -> int:
    """Most rows the period can hold: per sensor its readings at its report interval; per facility one per
    window."""
    if window_ms is None or layout.per_sensor:
        return sum(math.ceil(span_ms / (place.interval_s * 1000)) for place in places.values())
    return len(places) * math.ceil(span_ms / window_ms)


def cap_problem(param: str, cap: str, detail: str) -> ApiProblem:
    return ApiProblem(
        422,
        "export-cap",
        f"{detail} (cap {cap}): ask for a shorter period or one district",
        invalid_params=[InvalidParam(name=param, reason=f"beyond the dataset's cap {cap}")],
    )


def check_period(dataset: OpenDataset, start_ms: int, end_ms: int) -> None:
    """422 naming ``max_days`` for a period longer than the dataset's cap."""
    span_ms, days = end_ms - start_ms, dataset.caps.max_days
    if span_ms > days * DAY_MS:
        detail = f"the period of {span_ms / DAY_MS:.4g} days exceeds {days} days per request"
        raise cap_problem("query.end", "max_days", detail)


def check_rows(dataset: OpenDataset, rows: int) -> None:
    """422 naming ``max_rows`` for more estimated rows than the dataset's cap."""
    most = dataset.caps.max_rows
    if rows > most:
        detail = f"the period holds up to {rows:,} rows, more than {most:,} per request"
        raise cap_problem("query.start", "max_rows", detail)


def export_request(
    dataset: OpenDataset,
    index: CityIndex,
    *,
    start: datetime | None,
    end: datetime | None,
    district: str | None,
    now_ms: int,
) -> ExportRequest:
    """The checked request; raises the problem that answers it otherwise."""
    layout = layout_of(dataset)
    if district is not None and district not in index.districts:
        raise not_found("district", district)
    start_ms, end_ms = period(dataset, start, end, now_ms=now_ms, timezone=index.city.timezone)
    check_period(dataset, start_ms, end_ms)
    window_ms = {TemporalGranularity.HOUR: HOUR_MS, TemporalGranularity.LOCAL_DAY: DAY_MS}.get(dataset.temporal)
    places = places_of(layout, index, district)
    rows = estimate_rows(layout, places, end_ms - start_ms, window_ms)
    check_rows(dataset, rows)
    return ExportRequest(layout, start_ms, end_ms, district, places, rows, window_ms)
