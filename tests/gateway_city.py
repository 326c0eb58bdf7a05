"""A small hand-made city for the gateway's tests: two districts, a few facilities, one device of several types."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

from smartcity.city.model import (
    BBox,
    City,
    DeviceType,
    District,
    Facility,
    FacilityKind,
    GeoPoint,
    NetworkClass,
    RadioProfile,
)
from tests.cities import ULA, box_district, device_at

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
    return box_district(
        f"d{index}",
        f"District {index}",
        BBox(min_lat=lat, min_lon=lon, max_lat=lat + 0.05, max_lon=lon + 0.05),
        centre=GeoPoint(lat=lat + 0.02, lon=lon + 0.02),
        prefix=IPv6Network(f"fd12:3456:789a:{index}::/64"),
        population=10_000,
    )


def small_city(devices: dict[str, DeviceType] | None = None) -> City:
    """The city; ``devices`` replaces the default device set (alternately at facility f-school in district d1 and
    f-street in d2)."""
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
            device_at(
                facilities[index % 2],
                device_id,
                device_type,
                IPv6Address(f"fd12:3456:789a:{1 + index % 2}::{index + 1:x}"),
                network=NetworkClass.NARROWBAND if device_id in NARROWBAND else NetworkClass.BROADBAND,
                radio=RadioProfile.LORAWAN_SF7 if device_id in NARROWBAND else None,
            )
            for index, (device_id, device_type) in enumerate(chosen.items())
        ],
    )


def write_city(path: Path, devices: dict[str, DeviceType] | None = None) -> Path:
    path.write_text(small_city(devices).model_dump_json(indent=1))
    return path
