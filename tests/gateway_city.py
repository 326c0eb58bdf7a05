"""A small hand-made city for the gateway's tests: two districts, a few facilities, one device of several types."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from smartcity.city.model import (
    BBox,
    City,
    Device,
    DeviceType,
    District,
    Facility,
    FacilityKind,
    GeoPoint,
    NetworkClass,
    RadioProfile,
)

ULA = IPv6Network("fd12:3456:789a::/48")

DEVICES: dict[str, DeviceType] = {
    "aq-1": DeviceType.AIR_QUALITY,
    "aq-2": DeviceType.AIR_QUALITY,
    "noise-1": DeviceType.NOISE,
    "light-1": DeviceType.STREET_LIGHT,
    "display-1": DeviceType.INFO_DISPLAY,
    "park-1": DeviceType.PARKING_BAY,
}
NARROWBAND = {"park-1"}


def _district(index: int) -> District:
    lat, lon = 52.0 + index * 0.1, 13.0
    ring = [GeoPoint(lat=lat, lon=lon), GeoPoint(lat=lat + 0.05, lon=lon), GeoPoint(lat=lat + 0.05, lon=lon + 0.05)]
    return District(
        id=f"d{index}",
        name=f"District {index}",
        population=10_000,
        centre=GeoPoint(lat=lat + 0.02, lon=lon + 0.02),
        bbox=BBox(min_lat=lat, min_lon=lon, max_lat=lat + 0.05, max_lon=lon + 0.05),
        polygon=[*ring, ring[0]],
        prefix=IPv6Network(f"fd12:3456:789a:{index}::/64"),
    )


def small_city(devices: dict[str, DeviceType] | None = None) -> City:
    """The city; ``devices`` replaces the default device set (all in district d1, facility f-school)."""
    districts = [_district(1), _district(2)]
    facilities = [
        Facility(
            id="f-school", kind=FacilityKind.SCHOOL, name="School", district_id="d1", location=districts[0].centre
        ),
        Facility(
            id="f-street",
            kind=FacilityKind.STREET_SEGMENT,
            name="Main St",
            district_id="d2",
            location=districts[1].centre,
        ),
    ]
    chosen = devices or DEVICES
    return City(
        name="Testville",
        seed=1,
        ula_prefix=ULA,
        districts=districts,
        facilities=facilities,
        devices=[
            Device(
                id=device_id,
                type=device_type,
                facility_id="f-school" if index % 2 == 0 else "f-street",
                district_id="d1" if index % 2 == 0 else "d2",
                location=districts[index % 2].centre,
                ipv6=IPv6Address(f"fd12:3456:789a:{1 + index % 2}::{index + 1:x}"),
                network=NetworkClass.NARROWBAND if device_id in NARROWBAND else NetworkClass.BROADBAND,
                radio=RadioProfile.LORAWAN_SF7 if device_id in NARROWBAND else None,
                report_interval_s=60,
            )
            for index, (device_id, device_type) in enumerate(chosen.items())
        ],
    )


def write_city(path: Path, devices: dict[str, DeviceType] | None = None) -> Path:
    path.write_text(small_city(devices).model_dump_json(indent=1))
    return path
