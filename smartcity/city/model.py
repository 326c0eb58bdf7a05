"""Typed city model. One definition, used by the generator, the loader, the simulator, the gateway and the API.

Cross-references (facility -> district, device -> facility) and address plans are checked by
:func:`smartcity.city.load.validate_city`, which names the path of every bad element.
"""

from __future__ import annotations

import enum
import socket
from ipaddress import IPv6Address, IPv6Network
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=64)]
"""Ids of districts, facilities and devices: lower-case slugs, safe as an MQTT topic level and an InfluxDB tag."""


def _parse_ipv6(value: Any) -> Any:
    # inet_pton parses in C: loading 100k devices drops from ~3 s to ~0.3 s. Anything it refuses (a scope id,
    # garbage) falls through to pydantic's own validator, which accepts or reports it as before.
    if isinstance(value, str):
        try:
            return IPv6Address(socket.inet_pton(socket.AF_INET6, value))
        except OSError:
            return value
    return value


def _format_ipv6(address: IPv6Address) -> str:
    # inet_ntop formats in C (RFC 5952, like str(address)) where str() costs ~10 us in Python; it prints
    # IPv4-mapped and -compatible addresses in dotted form, so those keep the ipaddress spelling.
    text = socket.inet_ntop(socket.AF_INET6, address.packed)
    return str(address) if "." in text else text


FastIPv6Address = Annotated[
    IPv6Address, BeforeValidator(_parse_ipv6), PlainSerializer(_format_ipv6, return_type=str, when_used="json")
]
"""An :class:`IPv6Address` field that validates and serialises quickly (one per device in a city file)."""


class FacilityKind(enum.StrEnum):
    SCHOOL = "school"
    HOSPITAL = "hospital"
    NURSING_HOME = "nursing_home"
    LIBRARY = "library"
    PUBLIC_BUILDING = "public_building"
    STREET_SEGMENT = "street_segment"
    PARK = "park"
    CAR_PARK = "car_park"


class DeviceType(enum.StrEnum):
    AIR_QUALITY = "air_quality"
    INDOOR_CLIMATE = "indoor_climate"
    NOISE = "noise"
    ENERGY_METER = "energy_meter"
    WATER_METER = "water_meter"
    OCCUPANCY = "occupancy"
    PARKING_BAY = "parking_bay"
    STREET_LIGHT = "street_light"
    TRAFFIC_COUNTER = "traffic_counter"
    WEATHER = "weather"
    FLOOD_LEVEL = "flood_level"
    WASTE_BIN = "waste_bin"
    INFO_DISPLAY = "info_display"


class NetworkClass(enum.StrEnum):
    BROADBAND = "broadband"
    """Holds its own MQTT 5 session (Ethernet, Wi-Fi, LTE)."""
    NARROWBAND = "narrowband"
    """LoRaWAN / NB-IoT-like: sleeps, sends small batched SenML uplinks through a network server."""


class RadioProfile(enum.StrEnum):
    """Narrowband radio profiles; each fixes the largest application payload of one uplink."""

    LORAWAN_SF12 = "lorawan_sf12"
    LORAWAN_SF7 = "lorawan_sf7"
    NBIOT = "nbiot"

    @property
    def payload_budget(self) -> int:
        """Largest application payload in bytes (LoRaWAN EU868 SF10-12: 51, SF7-8: 222; NB-IoT: 512)."""
        return _PAYLOAD_BUDGET[self]

    @property
    def duty_cycle(self) -> float:
        """Fraction of air time a device may use (EU868 sub-band: 1 %); NB-IoT has no duty-cycle limit."""
        return 1.0 if self is RadioProfile.NBIOT else 0.01


_PAYLOAD_BUDGET = {RadioProfile.LORAWAN_SF12: 51, RadioProfile.LORAWAN_SF7: 222, RadioProfile.NBIOT: 512}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GeoPoint(_Frozen):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class BBox(_Frozen):
    min_lat: float = Field(ge=-90, le=90)
    min_lon: float = Field(ge=-180, le=180)
    max_lat: float = Field(ge=-90, le=90)
    max_lon: float = Field(ge=-180, le=180)

    def contains(self, point: GeoPoint) -> bool:
        return self.min_lat <= point.lat <= self.max_lat and self.min_lon <= point.lon <= self.max_lon


class District(_Frozen):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    population: int = Field(ge=0)
    centre: GeoPoint
    bbox: BBox
    polygon: list[GeoPoint] = Field(min_length=4, description="closed ring: first point == last point")
    prefix: IPv6Network = Field(description="the district's /64 inside the city's ULA /48")


class Facility(_Frozen):
    id: Identifier
    kind: FacilityKind
    name: str = Field(min_length=1, max_length=200)
    district_id: Identifier
    location: GeoPoint
    capacity: int | None = Field(default=None, ge=0, description="pupils, beds, residents, parking spaces...")
    capacity_unit: str | None = None


class Device(_Frozen):
    id: Identifier
    type: DeviceType
    facility_id: Identifier
    district_id: Identifier
    location: GeoPoint
    ipv6: FastIPv6Address
    network: NetworkClass
    radio: RadioProfile | None = Field(default=None, description="set for narrowband devices only")
    report_interval_s: int = Field(ge=1, le=86_400)
    firmware: str = Field(default="1.0.0", max_length=40)


class City(_Frozen):
    schema_version: int = Field(default=1, ge=1, le=1)
    name: str = Field(min_length=1, max_length=200)
    seed: int | None = None
    ula_prefix: IPv6Network = Field(description="the deployment's ULA /48 (RFC 4193)")
    districts: list[District]
    facilities: list[Facility]
    devices: list[Device]
