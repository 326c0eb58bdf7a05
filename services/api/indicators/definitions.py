"""Every planning indicator, defined once as data: what it means, its unit and formula, the registry metrics it is
computed from, the facility kinds it covers and the roll-up tier it reads. ``/v1/indicators`` lists these
records, docs/API.md has them as a table, and :mod:`services.api.indicators.compute` computes each by its
:class:`Method`. Metric names are the registry's (``smartcity.contract.metrics``); a test holds every one to it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from smartcity.city.model import DeviceType, FacilityKind
from smartcity.contract.metrics import DEVICE_METRICS

WHO_PM25_24H = 15.0
"""WHO global air quality guideline (2021), PM2.5 24-hour mean, ug/m3."""
WHO_NO2_24H = 25.0
"""WHO global air quality guideline (2021), NO2 24-hour mean, ug/m3."""
NIGHT_NOISE_LIMIT_DB = 45.0
"""WHO Environmental Noise Guidelines for the European Region (2018), road traffic at night (Lnight), dB."""
NIGHT_HOURS = (23, 7)
"""Night is 23:00 to 07:00 in the city's time zone: an hour counts when its local start hour is 23, 0, ... 6."""


class Method(enum.StrEnum):
    """How an indicator is computed (:mod:`services.api.indicators.formulas` has one function per method)."""

    HOURS_ABOVE = "hours_above"
    """Windows (hours or local days) whose mean over the group's readings is above ``threshold``."""
    MEAN = "mean"
    """The mean of every reading of the group in the period."""
    PER_CAPACITY = "per_capacity"
    """Facilities' mean over the period as a share of their capacities."""
    PEAK_PER_CAPACITY = "peak_per_capacity"
    """The fullest hour: facilities' hourly means as a share of their capacities, highest hour of the period."""
    PER_FLOOR_AREA = "per_floor_area"
    """Meter consumption (register increases) over the buildings' floor areas."""
    LIGHTS_WORKING = "lights_working"
    """Share of street lights that reported and never stayed dark while switched on."""
    UPTIME = "uptime"
    """Share of the hours each device was expected to report in that held a reading."""
    COMPLETENESS = "completeness"
    """Readings stored over readings expected from the report interval."""
    DELIVERY = "delivery"
    """Readings received over readings sent (sequence numbers), from ``device_health``."""
    QUALITY = "quality"
    """Completeness times trust (the device-time not under a quality flag that distrusts the values)."""


class Source(enum.StrEnum):
    """Where an indicator's figures come from."""

    HOURS = "rp_1h"
    """The 1-hour roll-ups (UTC hours)."""
    DAYS = "rp_1d"
    """The 1-day roll-ups (local days of the city's time zone)."""
    DEVICE_HEALTH = "device_health"
    """The gateways' device-health records (sequence accounting)."""


ALL_KINDS = tuple(FacilityKind)
BUILDINGS = tuple(kind for kind in FacilityKind if kind.is_building)
_VITALS = frozenset({"battery", "rssi", "report_interval"})
EVERY_READING_METRIC = tuple(
    dict.fromkeys(name for names in DEVICE_METRICS.values() for name in names if name not in _VITALS)
)
"""The metrics a device type reports apart from its vitals: what uptime and completeness count readings by."""


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator's definition."""

    name: str
    description: str
    unit: str
    formula: str
    method: Method
    source: Source
    metrics: tuple[str, ...]
    facility_kinds: tuple[FacilityKind, ...]
    threshold: float | None = None
    night_only: bool = False

    @property
    def device_types(self) -> tuple[DeviceType, ...]:
        """The device types that report one of the indicator's metrics (every type for ``reading_delivery``)."""
        if not self.metrics:
            return tuple(DeviceType)
        return tuple(t for t, names in DEVICE_METRICS.items() if any(m in names for m in self.metrics))


def _above(metric: str, label: str, guideline: float, source: Source) -> Indicator:
    window = "hour" if source is Source.HOURS else "local day"
    mean = "hourly" if source is Source.HOURS else "24-hour (local day)"
    return Indicator(
        name=f"{metric}_{'hours' if source is Source.HOURS else 'days'}_above_who",
        description=f"{window.capitalize()}s whose {mean} {label} mean over the group's sensors was above the WHO "
        f"2021 24-hour guideline of {guideline:g} ug/m3",
        unit="h" if source is Source.HOURS else "d",
        formula=f"count of {window}s w with sum({metric}_sum) / sum({metric}_count) > {guideline:g} over the "
        f"group's {source.value} points of w (the mean of every reading in w)",
        method=Method.HOURS_ABOVE,
        source=source,
        metrics=(metric,),
        facility_kinds=ALL_KINDS,
        threshold=guideline,
    )


INDICATORS: Mapping[str, Indicator] = {
    indicator.name: indicator
    for indicator in (
        _above("pm25", "PM2.5", WHO_PM25_24H, Source.HOURS),
        _above("pm25", "PM2.5", WHO_PM25_24H, Source.DAYS),
        _above("no2", "NO2", WHO_NO2_24H, Source.HOURS),
        _above("no2", "NO2", WHO_NO2_24H, Source.DAYS),
        Indicator(
            name="night_noise_hours_above_limit",
            description=f"Night hours (23:00-07:00 local time) whose mean LAeq over the group's noise sensors was "
            f"above {NIGHT_NOISE_LIMIT_DB:g} dB (WHO 2018 night guideline for road traffic)",
            unit="h",
            formula=f"count of hours h with local start hour in 23..06 and sum(laeq_sum) / sum(laeq_count) > "
            f"{NIGHT_NOISE_LIMIT_DB:g}; an arithmetic mean of the interval levels, which never exceeds their "
            "energetic mean, so the count is a lower bound",
            method=Method.HOURS_ABOVE,
            source=Source.HOURS,
            metrics=("laeq",),
            facility_kinds=ALL_KINDS,
            threshold=NIGHT_NOISE_LIMIT_DB,
            night_only=True,
        ),
        Indicator(
            name="energy_per_m2",
            description="Electricity used by public buildings per square metre of gross floor area",
            unit="kWh/m2",
            formula="sum(energy_increase) of the buildings' meters / sum(floor_area_m2) of the buildings whose "
            "meters reported in the period; energy_increase is the reset-aware register difference per hour",
            method=Method.PER_FLOOR_AREA,
            source=Source.HOURS,
            metrics=("energy",),
            facility_kinds=BUILDINGS,
        ),
        Indicator(
            name="occupancy_rate",
            description="Mean people present as a share of capacity (pupils, beds, residents, seats)",
            unit="%",
            formula="100 * sum over facilities f of mean_f / sum of capacity_f, mean_f = sum(occupancy_sum) / "
            "sum(occupancy_count) of f's counters (each counts the people present at f: averaged, not added)",
            method=Method.PER_CAPACITY,
            source=Source.HOURS,
            metrics=("occupancy",),
            facility_kinds=(
                FacilityKind.SCHOOL,
                FacilityKind.HOSPITAL,
                FacilityKind.NURSING_HOME,
                FacilityKind.LIBRARY,
            ),
        ),
        Indicator(
            name="car_park_peak_occupancy",
            description="Car-park occupancy in the fullest hour of the period, as a share of the parking spaces",
            unit="%",
            formula="max over hours h of 100 * sum over car parks f with data in h of mean_f,h / sum of "
            "capacity_f, mean_f,h = sum(occupancy_sum) / sum(occupancy_count) of f's counters in h",
            method=Method.PEAK_PER_CAPACITY,
            source=Source.HOURS,
            metrics=("occupancy",),
            facility_kinds=(FacilityKind.CAR_PARK,),
        ),
        Indicator(
            name="street_lights_working",
            description="Share of street lights that reported in the period and drew power whenever switched on",
            unit="%",
            formula="100 * working / lights; lights = the group's street lights in the city model, working = "
            "those with an hourly roll-up in the period and no hour with dim_level_min > 0 and lamp_power_max = 0",
            method=Method.LIGHTS_WORKING,
            source=Source.HOURS,
            metrics=("dim_level", "lamp_power"),
            facility_kinds=ALL_KINDS,
        ),
        Indicator(
            name="waste_bin_fill_level",
            description="Mean fill level of the waste bins",
            unit="%",
            formula="sum(fill_level_sum) / sum(fill_level_count) over the group's hourly roll-ups",
            method=Method.MEAN,
            source=Source.HOURS,
            metrics=("fill_level",),
            facility_kinds=ALL_KINDS,
        ),
        Indicator(
            name="sensor_uptime",
            description="Share of the hours in which the devices were expected to report that held a reading",
            unit="%",
            formula="100 * sum_d min(hours_d, expected_d) / sum_d expected_d over the group's devices (city model); "
            "hours_d = hours with a roll-up of d, expected_d = period hours * min(1, 3600 / report_interval_s)",
            method=Method.UPTIME,
            source=Source.HOURS,
            metrics=EVERY_READING_METRIC,
            facility_kinds=ALL_KINDS,
        ),
        Indicator(
            name="data_completeness",
            description="Readings stored as a share of the readings the devices' report intervals promise",
            unit="%",
            formula="100 * sum_d min(readings_d, expected_d) / sum_d expected_d over the group's devices (city "
            "model); readings_d = sum(m_count) of d's most frequent metric m, expected_d = period / "
            "report_interval_s",
            method=Method.COMPLETENESS,
            source=Source.HOURS,
            metrics=EVERY_READING_METRIC,
            facility_kinds=ALL_KINDS,
        ),
        Indicator(
            name="data_quality_score",
            description="Data quality: the share of promised readings stored, times the share of device-time whose "
            "values no quality flag distrusts (stuck, spike, drift)",
            unit="%",
            formula="100 * completeness * trust; completeness as data_completeness, trust = 1 - sum_d flagged_d / "
            "(devices * period), flagged_d = time of d in the period under a stuck, spike or drift flag "
            "(quality_flag; a spike counts one report interval)",
            method=Method.QUALITY,
            source=Source.HOURS,
            metrics=EVERY_READING_METRIC,
            facility_kinds=ALL_KINDS,
        ),
        Indicator(
            name="reading_delivery",
            description="Readings that reached the platform as a share of those the devices sent (by sequence number)",
            unit="%",
            formula="100 * sum dR / sum (dR + dG) over the group's devices; dR, dG = change of the merged "
            "device_health readings and gaps between the last records before start and before end",
            method=Method.DELIVERY,
            source=Source.DEVICE_HEALTH,
            metrics=(),
            facility_kinds=ALL_KINDS,
        ),
    )
}
