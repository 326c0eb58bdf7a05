"""The city model indexed for the API: look-ups by id, the devices of a facility or district, geometry.

Built once from the city file when the app starts; the city does not change while the process runs, so its
fingerprint (part of every cursor and ETag) is fixed too.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from smartcity.city.geography import contains
from smartcity.city.model import City, Device, District, Facility, GeoPoint
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricSpec

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG): haversine distances are within 0.5 % of the ellipsoid's."""


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance in metres (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def in_polygon(district: District, point: GeoPoint) -> bool:
    """True when ``point`` lies inside the district's polygon (even-odd rule in lon/lat: straight edges in an
    equirectangular plane, as the generator draws them)."""
    ring = [(p.lon, p.lat) for p in district.polygon]
    return contains(ring, (point.lon, point.lat))


@dataclass(frozen=True, slots=True)
class Selection:
    """What a readings request names: one device, facility or district, and the devices behind it."""

    scope: str
    """``device``, ``facility`` or ``district``: also the InfluxDB tag key that selects it."""
    ident: str
    district_ids: frozenset[str]
    devices: tuple[Device, ...]


class CityIndex:
    """Read-only views of one city."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.districts = {d.id: d for d in city.districts}
        self.facilities = {f.id: f for f in city.facilities}
        self.devices = {d.id: d for d in city.devices}
        self._district_facilities: dict[str, int] = {}
        for facility in city.facilities:
            self._district_facilities[facility.district_id] = self._district_facilities.get(facility.district_id, 0) + 1
        self._facility_devices: dict[str, list[Device]] = {}
        self._district_devices: dict[str, list[Device]] = {}
        for device in city.devices:
            self._facility_devices.setdefault(device.facility_id, []).append(device)
            self._district_devices.setdefault(device.district_id, []).append(device)
        self.device_types_of_metric = {
            name: sorted(t.value for t, names in DEVICE_METRICS.items() if name in names) for name in METRICS
        }
        ids = "\n".join(
            [
                city.name,
                city.timezone,
                *self.districts,
                *self.facilities,
                *(f"{d.id} {d.firmware}" for d in city.devices),
            ]
        )
        self.fingerprint = hashlib.sha256(ids.encode()).hexdigest()[:16]

    def facility_count(self, district_id: str) -> int:
        return self._district_facilities.get(district_id, 0)

    def facility_devices(self, facility_id: str) -> list[Device]:
        return self._facility_devices.get(facility_id, [])

    def district_devices(self, district_id: str) -> list[Device]:
        return self._district_devices.get(district_id, [])

    def selection(self, scope: str, ident: str) -> Selection | None:
        """The devices of one device, facility or district id; None for an unknown id."""
        if scope == "device":
            device = self.devices.get(ident)
            return None if device is None else Selection(scope, ident, frozenset({device.district_id}), (device,))
        if scope == "facility":
            facility = self.facilities.get(ident)
            if facility is None:
                return None
            devices = tuple(self.facility_devices(ident))
            return Selection(scope, ident, frozenset({facility.district_id}), devices)
        if ident not in self.districts:
            return None
        return Selection(scope, ident, frozenset({ident}), tuple(self.district_devices(ident)))


def reporting(devices: Iterable[Device], metric: MetricSpec) -> list[Device]:
    """The devices whose type reports ``metric``."""
    return [device for device in devices if metric.name in DEVICE_METRICS[device.type]]


def facilities_near(facilities: Iterable[Facility], centre: GeoPoint, radius_m: float) -> list[tuple[Facility, float]]:
    """Facilities within ``radius_m`` of ``centre``, nearest first (ties by id)."""
    found = [(facility, distance_m(centre, facility.location)) for facility in facilities]
    return sorted(((f, d) for f, d in found if d <= radius_m), key=lambda pair: (pair[1], pair[0].id))
