"""The city model: districts, public facilities and their devices, with IPv6 addressing."""

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

__all__ = [
    "BBox",
    "City",
    "Device",
    "DeviceType",
    "District",
    "Facility",
    "FacilityKind",
    "GeoPoint",
    "NetworkClass",
    "RadioProfile",
]
