"""The one place tests build cities: the building blocks (a district that is a lat/lon box, a device placed at a
facility) and the two hand-made presets built from them, :func:`small_city` (the gateway's and the API's: two
districts, named devices of several types) and :func:`tests.support.devices.simulator_city` (the simulator's:
one district, devices numbered by network class). Hand-made cities stay independent of the generator, so each test
states exactly which devices it runs; the generated city with days of history is :mod:`tests.support.filled_city`."""

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
"""The ULA /48 of the test cities."""


def box_district(
    district_id: str, name: str, bbox: BBox, *, centre: GeoPoint, prefix: IPv6Network, population: int
) -> District:
    """A district covering ``bbox``; its polygon is the closed ring south-west, north-west, north-east (the tests
    need a valid ring, not an exact outline)."""
    south_west = GeoPoint(lat=bbox.min_lat, lon=bbox.min_lon)
    return District(
        id=district_id,
        name=name,
        population=population,
        centre=centre,
        bbox=bbox,
        polygon=[
            south_west,
            GeoPoint(lat=bbox.max_lat, lon=bbox.min_lon),
            GeoPoint(lat=bbox.max_lat, lon=bbox.max_lon),
            south_west,
        ],
        prefix=prefix,
    )


def device_at(
    facility: Facility,
    device_id: str,
    device_type: DeviceType,
    ipv6: IPv6Address,
    *,
    network: NetworkClass = NetworkClass.BROADBAND,
    radio: RadioProfile | None = None,
    report_interval_s: int = 60,
) -> Device:
    """A device at ``facility``: in the facility's district and at its location."""
    return Device(
        id=device_id,
        type=device_type,
        facility_id=facility.id,
        district_id=facility.district_id,
        location=facility.location,
        ipv6=ipv6,
        network=network,
        radio=radio,
        report_interval_s=report_interval_s,
    )


# -- the gateway's and API's small city: two districts, a school and a street, one device of several types --
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
