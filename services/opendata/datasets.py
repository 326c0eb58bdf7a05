"""Every open dataset, defined once as data: what it holds (registry metrics x facility kinds), at which spatial and
temporal granularity and from which store tier, under which licence, who publishes it, how often it changes, its
EU data themes, whether it is about people (then the privacy engine releases it) and the caps of one request.

The DCAT-AP catalogue (:mod:`services.opendata.catalogue`), the table in docs/OPEN_DATA.md
(:mod:`services.opendata.doc`) and the exports read these records; a unit test holds them to the metric registry,
the city model's departments and the roll-up policy.

Spatial granularity follows what the data is about:

- **per sensor** for environmental data (air quality, noise, weather, flood levels): a measurement of the air or a
  river, not of a person, and its value lies in where it was taken, so it is published at full resolution;
- **district x facility kind** for the occupancy of schools, libraries, hospitals and nursing homes: people present
  in one building at one hour can single out a person (one pupil in a room, one resident), so these counts are
  published only as fixed releases over a grid the caller cannot choose (docs/PRIVACY.md);
- **per facility** for energy of public buildings, street lighting, waste bins and car parks: measurements of public
  infrastructure (a building's meters, the lights of a street, its bins, the vehicles in a car park of 50 to 600
  spaces), where the facility is what a reader asks about and no person is measured. Street parking bays are left
  out: one bay in front of a house, per hour, would show when one household's car comes and goes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.opendata.vocabularies import CC_BY_4_0, Frequency, Licence, Theme
from smartcity.city.model import City, Department, FacilityKind
from smartcity.rollups import DAY, HOUR, Tier

_K = FacilityKind
ALL_KINDS = tuple(FacilityKind)
BUILDINGS = tuple(kind for kind in FacilityKind if kind.is_building)


class SpatialGranularity(enum.StrEnum):
    SENSOR = "sensor"
    """Each device at its own location."""
    FACILITY = "facility"
    """Each facility, its devices combined."""
    DISTRICT_FACILITY_KIND = "district x facility kind"
    """Each district's facilities of one kind together (fixed cells of the privacy engine)."""


class TemporalGranularity(enum.StrEnum):
    AS_MEASURED = "as measured"
    """Every reading at its own time (the device's report interval: 1 to 15 minutes)."""
    HOUR = "hour"
    """UTC hours (whole hours in every time zone the city model accepts but a few half-hour ones)."""
    LOCAL_DAY = "local day"
    """Days of the city's time zone (23 to 25 hours)."""

    @property
    def duration(self) -> str | None:
        """ISO 8601 duration (dcat:temporalResolution); None for readings as measured."""
        return {"as measured": None, "hour": "PT1H", "local day": "P1D"}[self.value]


class Source(enum.StrEnum):
    """Where the values come from: the raw points or a roll-up tier (its retention policy's name)."""

    RAW = "raw"
    HOUR = "rp_1h"
    DAY = "rp_1d"

    @property
    def tier(self) -> Tier | None:
        """The roll-up tier; None for raw points."""
        return {"raw": None, HOUR.retention_policy: HOUR, DAY.retention_policy: DAY}[self.value]


class Privacy(enum.StrEnum):
    """What the privacy engine does to a dataset before it is published."""

    NONE = "none"
    FIXED_RELEASE = "fixed release"

    @property
    def description(self) -> str:
        return _PRIVACY[self]


_PRIVACY = {
    Privacy.NONE: "Published as measured, without suppression: the data describes the environment or public "
    "infrastructure, never a person.",
    Privacy.FIXED_RELEASE: "Person-related: published only as fixed releases over a grid of districts x facility "
    "kinds x hours (or coarser) in the city's time zone that the caller cannot choose; a cell with too few "
    "facilities is merged into a coarser area or withheld, and a count below the threshold is suppressed, with "
    "secondary suppression so that no suppressed cell can be derived from totals or other cells (docs/PRIVACY.md).",
}


@dataclass(frozen=True, slots=True)
class Caps:
    """The most one export request may ask for; more is refused with a 422 that names the cap."""

    max_days: int
    """Longest period of one request, in days."""
    max_rows: int
    """Most rows (one per time and place) one request may return."""


@dataclass(frozen=True, slots=True)
class OpenDataset:
    id: str
    """URL slug: ``/v1/open/{id}.csv``."""
    title: str
    description: str
    metrics: tuple[str, ...]
    """Metric names of the registry (``smartcity.contract.metrics``)."""
    facility_kinds: tuple[FacilityKind, ...]
    """Devices at facilities of these kinds contribute."""
    spatial: SpatialGranularity
    temporal: TemporalGranularity
    source: Source
    publisher: str
    """Id of the publishing department (``City.departments``): the one owning the metrics, or for data about
    people the one answering for the facilities they were in."""
    frequency: Frequency
    themes: tuple[Theme, ...]
    person_related: bool
    caps: Caps
    licence: Licence = CC_BY_4_0
    retention_days: int | None = None
    """How long any data of the dataset is kept, in every tier (raw and roll-ups): None keeps it as long as each
    tier's retention policy does (``SMARTCITY_ROLLUP_POLICY__*``); a number removes older points of the dataset
    from every tier (``smartcity data expire``, docs/PRIVACY.md)."""

    @property
    def privacy(self) -> Privacy:
        return Privacy.FIXED_RELEASE if self.person_related else Privacy.NONE


PERSON_RELATED_RETENTION_DAYS = 366
"""Occupancy of schools, libraries, hospitals and nursing homes is kept a year (its longest export) and no longer,
in any tier: the hourly (730 days) and daily roll-ups (for ever) would keep it far longer."""

_RAW_CAPS = Caps(max_days=31, max_rows=5_000_000)
_HOURLY_CAPS = Caps(max_days=366, max_rows=2_000_000)
_RELEASE_CAPS = Caps(max_days=366, max_rows=500_000)


def _environmental(ident: str, title: str, description: str, metrics: tuple[str, ...]) -> OpenDataset:
    return OpenDataset(
        id=ident,
        title=title,
        description=description,
        metrics=metrics,
        facility_kinds=ALL_KINDS,
        spatial=SpatialGranularity.SENSOR,
        temporal=TemporalGranularity.AS_MEASURED,
        source=Source.RAW,
        publisher="environment",
        frequency=Frequency.CONTINUOUS,
        themes=(Theme.ENVIRONMENT,),
        person_related=False,
        caps=_RAW_CAPS,
    )


def _occupancy(ident: str, kind: FacilityKind, places: str, publisher: str, theme: Theme) -> OpenDataset:
    return OpenDataset(
        id=ident,
        title=f"Occupancy of {places}",
        description=f"People present in the {places} of each district, per hour: the counters' hourly means per "
        f"facility, added up over the district's {places}. Released by the privacy engine: small cells are merged "
        "or withheld.",
        metrics=("occupancy",),
        facility_kinds=(kind,),
        spatial=SpatialGranularity.DISTRICT_FACILITY_KIND,
        temporal=TemporalGranularity.HOUR,
        source=Source.HOUR,
        publisher=publisher,
        frequency=Frequency.HOURLY,
        themes=(theme, Theme.SOCIETY),
        person_related=True,
        caps=_RELEASE_CAPS,
        retention_days=PERSON_RELATED_RETENTION_DAYS,
    )


DATASETS: Mapping[str, OpenDataset] = {
    dataset.id: dataset
    for dataset in (
        _environmental(
            "air-quality",
            "Air quality",
            "Outdoor concentrations of nitrogen dioxide, fine particulate matter (PM2.5, PM10) and ozone in ug/m3, "
            "every reading of every air-quality sensor at its location.",
            ("no2", "pm25", "pm10", "o3"),
        ),
        _environmental(
            "noise",
            "Noise",
            "A-weighted equivalent and maximum sound levels (LAeq, LAmax) in dB over each report interval, every "
            "reading of every noise sensor at its location.",
            ("laeq", "lamax"),
        ),
        _environmental(
            "weather",
            "Weather",
            "Air temperature, relative humidity, wind speed, precipitation rate and barometric pressure, every "
            "reading of every weather station at its location.",
            ("temperature", "humidity", "wind_speed", "rain_rate", "pressure"),
        ),
        _environmental(
            "flood-levels",
            "Flood levels",
            "Water level in cm above each gauge's reference, every reading of every flood-level sensor at its "
            "location.",
            ("water_level",),
        ),
        OpenDataset(
            id="public-building-energy",
            title="Energy of public buildings",
            description="Electrical power (kW, hourly mean) and energy consumed (kWh in the hour, from the meter "
            "registers, reset-aware) of each public building: schools, hospitals, nursing homes, libraries and "
            "civic buildings, their meters added up.",
            metrics=("power", "energy"),
            facility_kinds=BUILDINGS,
            spatial=SpatialGranularity.FACILITY,
            temporal=TemporalGranularity.HOUR,
            source=Source.HOUR,
            publisher="energy",
            frequency=Frequency.HOURLY,
            themes=(Theme.ENERGY, Theme.GOVERNMENT),
            person_related=False,
            caps=_HOURLY_CAPS,
        ),
        _occupancy("school-occupancy", _K.SCHOOL, "schools", "education", Theme.EDUCATION),
        _occupancy("library-occupancy", _K.LIBRARY, "libraries", "education", Theme.EDUCATION),
        _occupancy("hospital-occupancy", _K.HOSPITAL, "hospitals", "health", Theme.HEALTH),
        _occupancy("nursing-home-occupancy", _K.NURSING_HOME, "nursing homes", "social-care", Theme.HEALTH),
        OpenDataset(
            id="car-parks",
            title="Car park occupancy",
            description="Vehicles present in each car park: hourly mean, minimum and maximum of its entrance counters.",
            metrics=("occupancy",),
            facility_kinds=(_K.CAR_PARK,),
            spatial=SpatialGranularity.FACILITY,
            temporal=TemporalGranularity.HOUR,
            source=Source.HOUR,
            publisher="transport",
            frequency=Frequency.HOURLY,
            themes=(Theme.TRANSPORT,),
            person_related=False,
            caps=_HOURLY_CAPS,
        ),
        OpenDataset(
            id="street-lighting",
            title="Street lighting",
            description="Dim level (%) and electrical power (W) of the street lights of each street and park, "
            "hourly mean, minimum and maximum over its lights.",
            metrics=("dim_level", "lamp_power"),
            facility_kinds=(_K.STREET_SEGMENT, _K.PARK),
            spatial=SpatialGranularity.FACILITY,
            temporal=TemporalGranularity.HOUR,
            source=Source.HOUR,
            publisher="operations",
            frequency=Frequency.HOURLY,
            themes=(Theme.ENERGY, Theme.GOVERNMENT),
            person_related=False,
            caps=_HOURLY_CAPS,
        ),
        OpenDataset(
            id="waste",
            title="Waste bin fill levels",
            description="Fill level (%) of the public waste bins of each street and park, hourly mean, minimum and "
            "maximum over its bins.",
            metrics=("fill_level",),
            facility_kinds=(_K.STREET_SEGMENT, _K.PARK),
            spatial=SpatialGranularity.FACILITY,
            temporal=TemporalGranularity.HOUR,
            source=Source.HOUR,
            publisher="operations",
            frequency=Frequency.HOURLY,
            themes=(Theme.ENVIRONMENT, Theme.GOVERNMENT),
            person_related=False,
            caps=_HOURLY_CAPS,
        ),
    )
}


def publisher_of(dataset: OpenDataset, departments: Sequence[Department]) -> Department | None:
    """The department that publishes ``dataset`` in a city: the one named in the definition; for a city file with
    departments of its own, the owner of the dataset's first facility kind (data about people) or first metric;
    None when no department owns either (the city itself publishes it)."""
    by_id = {department.id: department for department in departments}
    if dataset.publisher in by_id:
        return by_id[dataset.publisher]
    for department in departments:
        owned = department.facility_kinds if dataset.person_related else department.metrics
        if (dataset.facility_kinds[0] if dataset.person_related else dataset.metrics[0]) in owned:
            return department
    return None


def publishers(city: City) -> dict[str, Department | None]:
    """Dataset id -> its publishing department in ``city``."""
    return {ident: publisher_of(dataset, city.departments) for ident, dataset in DATASETS.items()}
