"""What a generated city is made of: facility densities and capacities, the devices each facility kind carries,
and the network profile of each device type.

The figures are plausible for a mid-sized European city (about 8 inhabitants per connected device): one school per
2,500 inhabitants, a hospital per 60,000, street lights as the largest fleet, parking bays mostly in car parks,
battery-powered sensors on narrowband radio, about 10 m2 of floor per pupil and 130 m2 per hospital bed.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.city.model import DeviceType, FacilityKind, RadioProfile

INHABITANTS_PER_DEVICE = 7.7
"""Population of a generated city per requested device (the device mix below yields ~0.13 devices per person)."""


@dataclass(frozen=True, slots=True)
class FacilityProfile:
    """How many facilities of a kind a city has, how big they are, and which devices one carries."""

    prefix: str
    """Id prefix: ``sc-0001``."""
    label: str
    inhabitants_per_facility: int
    capacity: tuple[int, int] | None
    """Uniform range of the capacity, or None where a capacity means nothing (streets, parks)."""
    capacity_unit: str | None
    per_facility: dict[DeviceType, float]
    """Expected devices of each type per facility, whatever its size."""
    per_capacity: dict[DeviceType, float]
    """Expected devices of each type per unit of capacity (one indoor-climate sensor per 25 pupils: a classroom;
    bay sensors on 60 % of a car park's spaces)."""
    floor_m2: tuple[float, float] | None = None
    """Uniform range of the gross floor area per unit of capacity, for buildings only (10 m2 per pupil)."""


_T = DeviceType

FACILITIES: dict[FacilityKind, FacilityProfile] = {
    FacilityKind.SCHOOL: FacilityProfile(
        "sc", "School", 2_500, (180, 1_200), "pupils",
        {_T.ENERGY_METER: 2, _T.WATER_METER: 1, _T.AIR_QUALITY: 0.3, _T.INFO_DISPLAY: 0.3},
        {_T.INDOOR_CLIMATE: 1 / 25, _T.OCCUPANCY: 1 / 100}, floor_m2=(8, 12),
    ),
    FacilityKind.HOSPITAL: FacilityProfile(
        "ho", "Hospital", 60_000, (150, 900), "beds",
        {_T.ENERGY_METER: 6, _T.WATER_METER: 3, _T.INFO_DISPLAY: 4, _T.AIR_QUALITY: 1},
        {_T.INDOOR_CLIMATE: 1 / 4, _T.OCCUPANCY: 1 / 20}, floor_m2=(100, 160),
    ),
    FacilityKind.NURSING_HOME: FacilityProfile(
        "nh", "Care Home", 6_000, (40, 160), "residents",
        {_T.ENERGY_METER: 1, _T.WATER_METER: 1},
        {_T.INDOOR_CLIMATE: 1 / 3, _T.OCCUPANCY: 1 / 20}, floor_m2=(45, 65),
    ),
    FacilityKind.LIBRARY: FacilityProfile(
        "lb", "Library", 20_000, (40, 300), "seats",
        {_T.OCCUPANCY: 2, _T.ENERGY_METER: 1, _T.WATER_METER: 1, _T.INFO_DISPLAY: 1},
        {_T.INDOOR_CLIMATE: 1 / 20}, floor_m2=(10, 20),
    ),
    FacilityKind.PUBLIC_BUILDING: FacilityProfile(
        "pu", "Civic Centre", 8_000, (30, 600), "workplaces",
        {_T.ENERGY_METER: 2, _T.WATER_METER: 1, _T.INFO_DISPLAY: 1},
        {_T.INDOOR_CLIMATE: 1 / 15, _T.OCCUPANCY: 1 / 50}, floor_m2=(20, 35),
    ),
    FacilityKind.STREET_SEGMENT: FacilityProfile(
        "st", "Street", 150, None, None,
        {
            _T.STREET_LIGHT: 7, _T.PARKING_BAY: 2, _T.WASTE_BIN: 1.2, _T.TRAFFIC_COUNTER: 0.15,
            _T.AIR_QUALITY: 0.08, _T.NOISE: 0.08, _T.FLOOD_LEVEL: 0.02, _T.INFO_DISPLAY: 0.02,
        },
        {},
    ),
    FacilityKind.PARK: FacilityProfile(
        "pk", "Park", 4_000, None, None,
        {
            _T.STREET_LIGHT: 10, _T.WASTE_BIN: 6, _T.WATER_METER: 1, _T.FLOOD_LEVEL: 0.5, _T.WEATHER: 0.3,
            _T.NOISE: 0.3, _T.AIR_QUALITY: 0.3,
        },
        {},
    ),
    FacilityKind.CAR_PARK: FacilityProfile(
        "cp", "Car Park", 8_000, (50, 600), "parking spaces",
        {_T.OCCUPANCY: 2, _T.ENERGY_METER: 1, _T.INFO_DISPLAY: 1, _T.AIR_QUALITY: 0.3},
        {_T.PARKING_BAY: 0.6},
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """How a device type is connected and how often it reports."""

    prefix: str
    """Device id prefix: ``pb-004211``."""
    narrowband_share: float
    radio_weights: tuple[float, float, float]
    """Relative shares of LoRaWAN SF12, LoRaWAN SF7 and NB-IoT among the type's narrowband devices."""
    interval_broadband_s: int
    interval_narrowband_s: int
    """At least 300 s on LoRaWAN: a 51-byte SF12 uplink takes ~2.5 s of air time and EU868 allows 1 %."""
    firmware: tuple[str, ...]
    """Firmware versions in the field, most common first."""


RADIOS = (RadioProfile.LORAWAN_SF12, RadioProfile.LORAWAN_SF7, RadioProfile.NBIOT)

NETWORKS: dict[DeviceType, NetworkProfile] = {
    _T.AIR_QUALITY: NetworkProfile("aq", 0.35, (0.3, 0.5, 0.2), 60, 600, ("2.4.1", "2.3.0")),
    _T.INDOOR_CLIMATE: NetworkProfile("ic", 0.60, (0.2, 0.6, 0.2), 300, 600, ("1.8.2", "1.7.5", "1.6.0")),
    _T.NOISE: NetworkProfile("ns", 0.25, (0.2, 0.6, 0.2), 60, 300, ("3.1.0", "3.0.2")),
    _T.ENERGY_METER: NetworkProfile("em", 0.40, (0.1, 0.3, 0.6), 60, 900, ("5.2.0", "5.1.4")),
    _T.WATER_METER: NetworkProfile("wm", 0.85, (0.4, 0.1, 0.5), 300, 3_600, ("4.0.3", "3.9.9")),
    _T.OCCUPANCY: NetworkProfile("oc", 0.10, (0.0, 1.0, 0.0), 60, 300, ("2.0.1", "1.9.7")),
    _T.PARKING_BAY: NetworkProfile("pb", 0.92, (0.6, 0.1, 0.3), 60, 300, ("1.4.2", "1.4.0", "1.3.1")),
    _T.STREET_LIGHT: NetworkProfile("sl", 0.55, (0.2, 0.4, 0.4), 300, 900, ("6.1.0", "6.0.3")),
    _T.TRAFFIC_COUNTER: NetworkProfile("tc", 0.10, (0.0, 0.5, 0.5), 60, 300, ("2.2.0", "2.1.8")),
    _T.WEATHER: NetworkProfile("we", 0.50, (0.3, 0.6, 0.1), 60, 600, ("1.2.5", "1.2.4")),
    _T.FLOOD_LEVEL: NetworkProfile("fl", 0.90, (0.6, 0.2, 0.2), 300, 900, ("1.0.7", "1.0.6")),
    _T.WASTE_BIN: NetworkProfile("wb", 0.95, (0.5, 0.2, 0.3), 900, 3_600, ("2.6.0", "2.5.3")),
    _T.INFO_DISPLAY: NetworkProfile("dp", 0.0, (0.0, 0.0, 1.0), 60, 600, ("7.0.1", "6.9.0")),
}

DISTRICT_NAMES = (
    "Old Town", "Riverside", "Northgate", "Eastfield", "Westend", "Southbank", "Hillcrest", "Millbrook",
    "Harbourside", "Market Quarter", "Castle Hill", "Greenway", "Oakwood", "Stonebridge", "Lakeside", "Brookfield",
    "Ashford", "Elmhurst", "Kingsmead", "Queensgate", "Fairview", "Meadowbank", "Station Quarter", "University Quarter",
    "Canalside", "Lindenau", "Hawthorn", "Birchwood", "Foxley", "Sandhill", "Parkside", "Redcliff", "Whitecross",
    "Holloway", "Newtown", "Bellevue", "Cedar Park", "Windmill Hill", "Rosedale", "Chapel End",
)  # fmt: skip
"""The most central district is always the Old Town; the others are shuffled by the seed."""

STREET_NAMES = (
    "Linden", "Market", "Station", "Church", "Mill", "Bridge", "School", "Park", "High", "King", "Queen", "Garden",
    "Harbour", "Castle", "Oak", "Elm", "Maple", "Rose", "Victoria", "Albert", "Chestnut", "Willow", "Orchard", "Canal",
)  # fmt: skip
STREET_SUFFIXES = ("Street", "Road", "Avenue", "Lane", "Way", "Row")
