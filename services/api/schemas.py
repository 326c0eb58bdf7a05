"""Response models: the OpenAPI schema of every answer (routes build the bodies; these describe them).

Fields a role may not see are optional and left out of its answers (docs/API.md has the table).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from smartcity.city.model import BBox, DeviceType, FacilityKind, GeoPoint, NetworkClass, RadioProfile

Value = float | int | bool | str
_Item = TypeVar("_Item")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS = tuple(f"{minute:02d}:{second:02d}." for minute in range(60) for second in range(60))
_MILLIS = tuple(f"{milli:03d}Z" for milli in range(1000))


@functools.lru_cache(maxsize=16_384)
def _hour_prefix(hour: int) -> str:
    """``2025-04-14T08:`` for the hour ``hour`` hours after the epoch."""
    return (_EPOCH + timedelta(hours=hour)).isoformat()[:14]


def iso(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC (``2025-04-14T08:00:00.000Z``). A history answer formats
    thousands of times, so the date and hour come from a cache and the rest from tables: the same text as
    ``datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")`` with ``Z``, several times
    faster."""
    hour, rest = divmod(ms, 3_600_000)
    second, milli = divmod(rest, 1000)
    return _hour_prefix(hour) + _SECONDS[second] + _MILLIS[milli]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(_Out, Generic[_Item]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` for the next one (null on the last page)."""

    items: list[_Item]
    next_cursor: str | None = Field(description="opaque; null when this is the last page")


class DistrictOut(_Out):
    id: str = Field(examples=["altstadt"])
    name: str = Field(examples=["Altstadt"])
    population: int = Field(examples=[41200])
    centre: GeoPoint
    bbox: BBox
    polygon: list[GeoPoint] = Field(description="closed ring: first point == last point")
    facilities: int = Field(description="facilities in the district")
    devices: int = Field(description="devices in the district")
    prefix: str | None = Field(default=None, description="the district's IPv6 /64 (not shown to the public role)")


class FacilityOut(_Out):
    id: str = Field(examples=["sch-0001"])
    kind: FacilityKind
    name: str
    district_id: str
    location: GeoPoint
    capacity: int | None = None
    capacity_unit: str | None = None
    floor_area_m2: float | None = None
    devices: int = Field(description="devices at the facility")
    distance_m: float | None = Field(default=None, description="distance from `near` (only with `near`)")


class DeviceOut(_Out):
    id: str = Field(examples=["aq-000001"])
    type: DeviceType
    network: NetworkClass
    facility_id: str
    district_id: str
    location: GeoPoint
    metrics: list[str] = Field(description="the metrics this device type reports")
    ipv6: str | None = Field(default=None, description="planner and above")
    firmware: str | None = Field(default=None, description="planner and above")
    radio: RadioProfile | None = Field(default=None, description="narrowband devices; planner and above")
    report_interval_s: int | None = Field(default=None, description="planner and above")
    online: bool | None = Field(default=None, description="from the device's status messages; null: not known")
    last_seen: datetime | None = Field(default=None, description="when the gateway last heard from it")
    gaps: int | None = Field(default=None, description="sequence numbers never received (loss upstream)")
    loss: float | None = Field(default=None, description="gaps / (gaps + readings), 0..1")


class DeviceHealthOut(_Out):
    """The device's health merged across every gateway replica (operator and above)."""

    device: str
    online: bool | None
    last_seen: datetime | None
    readings: int = Field(description="distinct readings received")
    gaps: int
    loss: float | None
    duplicates: int
    first_seq: int | None
    last_seq: int | None
    restarts: int
    clock_offset_ms: int | None = Field(description="device clock minus receive time (null: unknown)")
    replicas: list[str] = Field(description="gateway replicas that reported on the device")


class MetricOut(_Out):
    name: str = Field(examples=["pm25"])
    unit: str = Field(examples=["ug/m3"], description="SenML unit symbol; empty for booleans and text")
    kind: str = Field(examples=["float"], description="float, int, bool or string")
    minimum: float | None
    maximum: float | None
    description: str
    device_types: list[DeviceType]
    aggregations: list[str] = Field(description="the `agg` values history accepts for this metric")


class LatestItem(_Out):
    device: str
    metric: str
    value: Value
    unit: str
    time: datetime


class LatestOut(_Out):
    as_of: datetime = Field(description="when the cache was last refreshed from the store")
    items: list[LatestItem]


class HistoryPoint(_Out):
    time: datetime = Field(description="the reading's time, or the start of its bucket")
    value: Value
    device: str | None = Field(default=None, description="raw points only: the device that sent it")


class HistoryOut(_Out):
    metric: str
    unit: str
    scope: str = Field(description="device, facility or district")
    id: str
    resolution: str = Field(description="the resolution used (auto resolved): raw, 1m, 1h or 1d")
    agg: str | None = Field(description="null for raw points")
    start: datetime
    end: datetime
    points: list[HistoryPoint]


class KeyOut(_Out):
    key_id: str
    role: str
    districts: list[str]
    name: str
    created: datetime
    revoked: datetime | None
    department: str | None = Field(default=None, description="the key's department; null: the city's own key")


class NewKeyOut(KeyOut):
    key: str = Field(description="the key itself: shown only in this answer, never again")
