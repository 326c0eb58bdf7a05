"""Building blocks for hand-made cities (tests and benchmarks): a district that is a lat/lon box and a device
placed at a facility. Hand-made cities stay independent of the generator, so each test states exactly which
devices it runs."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

from smartcity.city.model import BBox, Device, DeviceType, District, Facility, GeoPoint, NetworkClass, RadioProfile

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
