"""Typed city model. One definition, used by the generator, the loader, the simulator, the gateway and the API.

Cross-references (facility -> district, device -> facility) and address plans are checked by
:func:`smartcity.city.load.validate_city`, which names the path of every bad element.
"""

from __future__ import annotations

import enum
import socket
import zoneinfo
from ipaddress import IPv6Address, IPv6Network
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

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

    @property
    def is_building(self) -> bool:
        """Heated, metered buildings with a floor area (energy per m2); streets, parks and car parks are not."""
        return self in _BUILDINGS


_BUILDINGS = frozenset(
    {
        FacilityKind.SCHOOL,
        FacilityKind.HOSPITAL,
        FacilityKind.NURSING_HOME,
        FacilityKind.LIBRARY,
        FacilityKind.PUBLIC_BUILDING,
    }
)

SCHEMA_VERSION = 2
"""Version of the city file format. Version 1 had no time zone, floor areas or departments; such files still load,
upgraded in memory (see :attr:`City.upgraded_from`)."""

DEFAULT_TIMEZONE = "Europe/Berlin"
"""The generator's time zone (its cities lie on the Rhine) and the one given to version-1 files."""

_NOT_PORTABLE_ZONES = frozenset({"localtime", "posixrules", "Factory"})


_TIMEZONE_HINT = "not an IANA time zone name such as 'Europe/Berlin' or 'UTC'"


def is_timezone(name: str) -> bool:
    """True for an IANA time zone name that the tz database knows (``Europe/Berlin``, ``UTC``)."""
    # zoneinfo answers from the system's tz database; "localtime" and friends exist there but mean nothing portable
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return name not in _NOT_PORTABLE_ZONES and not name.startswith(("posix/", "right/"))


def _check_timezone(name: str) -> str:
    if not is_timezone(name):
        raise PydanticCustomError("time_zone", _TIMEZONE_HINT)
    return name


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
"""An IANA time zone name (``Europe/Berlin``): daily windows, "8 am" and night hours are local time."""


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
    floor_area_m2: float | None = Field(
        default=None, gt=0, le=10_000_000, description="gross floor area of a building (energy per m2); None elsewhere"
    )


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


class Department(_Frozen):
    """A city department: it owns (publishes, answers for) the facilities of its kinds and the metrics it names.
    Each facility kind and each metric has one owner (checked by :mod:`smartcity.city.checks`)."""

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    facility_kinds: list[FacilityKind] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list, description="metric names of the registry")


def _default_departments() -> list[Department]:
    from smartcity.city.departments import default_departments  # imported late: it imports this module

    return default_departments()


class City(_Frozen):
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    name: str = Field(min_length=1, max_length=200)
    seed: int | None = None
    timezone: TimeZoneName = Field(default=DEFAULT_TIMEZONE, description="IANA time zone of the city")
    ula_prefix: IPv6Network = Field(description="the deployment's ULA /48 (RFC 4193)")
    departments: list[Department] = Field(default_factory=_default_departments)
    districts: list[District]
    facilities: list[Facility]
    devices: list[Device]

    _upgraded_from: int | None = PrivateAttr(default=None)

    @property
    def upgraded_from(self) -> int | None:
        """The schema version of the file this city was read from, when it was older than :data:`SCHEMA_VERSION`
        (and filled with defaults on loading); None for a current city."""
        return self._upgraded_from

    @model_validator(mode="after")
    def _upgrade(self) -> City:
        if self.schema_version == SCHEMA_VERSION:
            return self
        from smartcity.city.upgrade import upgrade_facilities  # imported late: it imports this module

        # Still inside validation, before anyone holds the object: filling it in place keeps it frozen for them.
        self._upgraded_from = self.schema_version
        object.__setattr__(self, "facilities", upgrade_facilities(self.facilities))
        object.__setattr__(self, "schema_version", SCHEMA_VERSION)
        return self
