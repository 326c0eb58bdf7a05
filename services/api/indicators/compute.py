"""Computing one indicator: who is in which group (the city model), the statements its method needs (one request
to InfluxDB), and the formula (:mod:`services.api.indicators.formulas`).

The store is a :class:`~services.api.cache.QueryStore` (an :class:`~smartcity.influx.client.InfluxClient`, or a
twin in unit tests). A period with no completed window sends no query at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.api.cache import QueryStore
from services.api.catalogue import CityIndex
from services.api.indicators import formulas
from services.api.indicators.definitions import ALL_KINDS, Indicator, Method, Source
from services.api.indicators.formulas import GroupResult, Membership
from services.api.indicators.period import TIERS, Period, is_night
from services.api.indicators.statements import (
    Filter,
    GroupBy,
    alias,
    parts,
    rollup_table,
    select,
    tag_clauses,
    totals,
    where,
    window_sums,
)
from services.api.quality import distrusted_ms, flags_over
from smartcity.city.model import FacilityKind
from smartcity.contract.metrics import METRICS
from smartcity.health import DeviceHealth, ReplicaHealth, decode_row, merge_replicas
from smartcity.influx.client import ParamValue, Series, quote_identifier
from smartcity.influx.schema import DEVICE_HEALTH
from smartcity.rollups import HOUR, HOUR_MS, NS_PER_MS


@dataclass(frozen=True, slots=True)
class IndicatorRequest:
    """What to compute: the indicator, the grouping, the period and the selection (already checked against the
    city model and the caller's districts)."""

    indicator: Indicator
    group_by: GroupBy
    period: Period
    database: str
    timezone: str
    districts: tuple[str, ...] = ()
    """The districts to cover; empty: the whole city."""
    kind: FacilityKind | None = None
    """Only facilities of this kind (one of the indicator's)."""
    exclude: tuple[str, ...] = ()
    """Devices left out (flagged: :mod:`services.api.quality`)."""

    @property
    def kinds(self) -> tuple[FacilityKind, ...]:
        return (self.kind,) if self.kind is not None else self.indicator.facility_kinds

    def filter(self) -> Filter:
        restricted = self.kind is not None or self.indicator.facility_kinds != ALL_KINDS
        kinds = tuple(k.value for k in self.kinds) if restricted else ()
        return Filter(self.period.start_ms, self.period.end_ms, self.districts, kinds, self.exclude)


def membership(index: CityIndex, request: IndicatorRequest) -> Membership:
    """The devices of the indicator's device types at facilities of its kinds in the selected districts, each
    with its group and facility."""
    types, kinds = set(request.indicator.device_types), set(request.kinds)
    districts, excluded = set(request.districts), set(request.exclude)
    members = Membership()
    for device in index.city.devices:
        facility = index.facilities[device.facility_id]
        if (
            device.id in excluded
            or device.type not in types
            or facility.kind not in kinds
            or (districts and device.district_id not in districts)
        ):
            continue
        group = device.district_id if request.group_by is GroupBy.DISTRICT else facility.kind.value
        members.device_group[device.id] = group
        members.device_facility[device.id] = facility.id
        members.facility_group[facility.id] = group
    return members


async def compute(store: QueryStore, index: CityIndex, request: IndicatorRequest) -> list[GroupResult]:
    """One result per group that has devices for the indicator (sorted by group)."""
    members = membership(index, request)
    indicator = request.indicator
    if indicator.source is Source.DEVICE_HEALTH:
        return await _delivery(store, request, members)
    if request.period.end_ms <= request.period.start_ms or not members.device_group:
        return [GroupResult(group, None, 0, 0) for group in members.groups]
    condition, params = where(request.filter())
    tier = TIERS[indicator.source]
    method = indicator.method
    if method is Method.UPTIME or method is Method.COMPLETENESS:
        return await _expected(store, index, request, members, condition, params)
    if method is Method.QUALITY:
        complete = await _expected(store, index, request, members, condition, params)
        return await _quality(store, index, request, members, complete)
    metric = indicator.metrics[0]
    table = rollup_table(request.database, tier, metric)
    if method is Method.LIGHTS_WORKING:
        return await _lights(store, request, members, condition, params)
    if method is Method.PER_FLOOR_AREA:
        (increase,) = parts(metric, "increase")
        answer = await store.query(select([("SUM", increase), ("COUNT", increase)], table, condition, "device"), params)
        areas = {f.id: f.floor_area_m2 for f in index.city.facilities if f.floor_area_m2}
        return formulas.per_floor_area(totals(answer, "device", alias("sum", increase)), members, metric, areas)
    total, count = parts(metric, "sum", "count")
    per_device = select([("SUM", total), ("SUM", count), ("COUNT", count)], table, condition, "device")
    capacities = {f.id: f.capacity for f in index.city.facilities if f.capacity}
    if method is Method.HOURS_ABOVE or method is Method.PEAK_PER_CAPACITY:
        group = request.group_by.value if method is Method.HOURS_ABOVE else "facility"
        by_window = select(
            [("SUM", total), ("SUM", count)], table, condition, group, tier=tier, timezone=request.timezone
        )
        answer = await store.query(f"{per_device}; {by_window}", params)
        devices = totals(answer, "device", alias("count", count))
        windows = window_sums(answer, group, alias("sum", count))
        if method is Method.PEAK_PER_CAPACITY:
            return formulas.peak_per_capacity(windows, devices, members, metric, capacities)
        zone = ZoneInfo(request.timezone)
        keep = (lambda start: is_night(start, zone)) if indicator.night_only else (lambda _start: True)
        assert indicator.threshold is not None  # every HOURS_ABOVE definition has one (a unit test holds it)
        return formulas.windows_above(windows, devices, members, metric, indicator.threshold, keep)
    devices = totals(await store.query(per_device, params), "device", alias("count", count))
    if method is Method.PER_CAPACITY:
        return formulas.per_capacity(devices, members, metric, capacities)
    return formulas.mean(devices, members, metric)


async def _lights(
    store: QueryStore, request: IndicatorRequest, members: Membership, condition: str, params: dict[str, ParamValue]
) -> list[GroupResult]:
    (dim_count,) = parts("dim_level", "count")
    (dim_min,) = parts("dim_level", "min")
    (power_max,) = parts("lamp_power", "max")
    table = rollup_table(request.database, HOUR, "dim_level")
    reported = select([("COUNT", dim_count)], table, condition, "device")
    # hours switched on at every reading (dim level above 0 throughout) with no power drawn at any reading
    dark = select([("MIN", power_max)], table, f"{condition} AND {quote_identifier(dim_min)} > 0", "device")
    answer = await store.query(f"{reported}; {dark}", params)
    return formulas.lights_working(
        totals(answer, "device", alias("count", dim_count)), totals(answer, "device", alias("min", power_max)), members
    )


async def _expected(
    store: QueryStore,
    index: CityIndex,
    request: IndicatorRequest,
    members: Membership,
    condition: str,
    params: dict[str, ParamValue],
) -> list[GroupResult]:
    """Uptime and completeness: every measurement's counts per device against what its report interval promises."""
    by_measurement: dict[str, list[str]] = {}
    for name in request.indicator.metrics:
        by_measurement.setdefault(METRICS[name].measurement, []).append(name)
    statements, firsts = [], []
    for names in by_measurement.values():
        counts = [parts(name, "count")[0] for name in names]
        columns = [(function, c) for c in counts for function in ("SUM", "COUNT")]
        statements.append(select(columns, rollup_table(request.database, HOUR, names[0]), condition, "device"))
        firsts.append(alias("sum", counts[0]))
    answer = await store.query("; ".join(statements), params)
    devices: dict[str, dict[str, float]] = {}
    for first in firsts:
        for device, row in totals(answer, "device", first).items():
            devices.setdefault(device, {}).update(row)
    span_ms = request.period.end_ms - request.period.start_ms
    expected: dict[str, float] = {}
    for device_id in members.device_group:
        interval_ms = index.devices[device_id].report_interval_s * 1000
        if request.indicator.method is not Method.UPTIME:
            expected[device_id] = span_ms / interval_ms
        else:
            expected[device_id] = span_ms / HOUR_MS * min(1.0, HOUR_MS / interval_ms)
    readings = request.indicator.method is not Method.UPTIME
    return formulas.expected_share(devices, members, expected, readings=readings)


async def _quality(
    store: QueryStore, index: CityIndex, request: IndicatorRequest, members: Membership, complete: list[GroupResult]
) -> list[GroupResult]:
    """Completeness times trust: the share of the group's device-time not under a stuck, spike or drift flag."""
    start, end = request.period.start_ms, request.period.end_ms
    flags = await flags_over(store, start, end)
    report = {d: index.devices[d].report_interval_s * 1000 for d in members.device_group}
    distrusted = distrusted_ms((f for f in flags if f.device in members.device_group), start, end, report)
    return formulas.quality(complete, distrusted, members, end - start)


def health_statement(request: IndicatorRequest, bound: str) -> tuple[str, dict[str, ParamValue]]:
    """The latest ``device_health`` record of every device and replica before ``$<bound>``."""
    clauses, params = tag_clauses(request.filter())
    params[bound] = (request.period.start_ms if bound == "start" else request.period.end_ms) * NS_PER_MS
    condition = " AND ".join([f"time < ${bound}", *clauses])
    statement = (
        f"SELECT * FROM {quote_identifier(DEVICE_HEALTH)} WHERE {condition} "
        'GROUP BY "device", "replica" ORDER BY time DESC LIMIT 1'
    )
    return statement, params


def _merged(answer: list[Series]) -> tuple[dict[str, DeviceHealth], dict[str, int]]:
    by_device: dict[str, list[ReplicaHealth]] = {}
    for series in answer:
        for row in series.records():
            record = decode_row(row, series.tags)
            by_device.setdefault(record.device, []).append(record)
    merged = {device: merge_replicas(device, records) for device, records in by_device.items()}
    return merged, {device: len(records) for device, records in by_device.items()}


async def _delivery(store: QueryStore, request: IndicatorRequest, members: Membership) -> list[GroupResult]:
    before, _counts = _merged(await store.query(*health_statement(request, "start")))
    until, records = _merged(await store.query(*health_statement(request, "end")))
    return formulas.delivery(before, until, members, records)
