"""District drill-down: air quality, noise, energy per facility, occupancy against capacity, parking, lighting and
waste for the districts and facility kinds chosen in the template variables."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from grafana_view import variables
from grafana_view.common import new_dashboard
from grafana_view.panels import AnyPanel, Look, bar_gauge_panel, influx, series_panel
from grafana_view.queries import (
    HOURLY_MIN_INTERVAL,
    INTERVAL,
    daily,
    hourly,
    matches,
    mean_of,
    raw,
    where,
)
from grafana_view.units import unit_of
from smartcity.city.model import City, DeviceType

UID = "smartcity-district"
SELECTION = (matches("district", "district"), matches("facility_kind", "facility_kind"))


def hourly_mean(metric: str, title: str, about: str, *, by: str = "district") -> AnyPanel:
    """The hourly roll-ups' mean of one metric per ``by`` tag over the dashboard's range."""
    panel = series_panel(
        Look(title, f"{about} Mean of every reading per {by} and interval, from the hourly roll-ups.", unit_of(metric)),
        [
            influx(
                f"SELECT {mean_of(metric)} FROM {hourly(metric)} WHERE {where(*SELECTION)} "
                f'GROUP BY time({INTERVAL}), "{by}" fill(none)',
                alias=f"$tag_{by}",
            )
        ],
    )
    return panel.interval(HOURLY_MIN_INTERVAL)


def occupancy_against_capacity(city: City, selection: tuple[str, ...]) -> AnyPanel:
    """The fullest hour of each facility's counters, each bar running up to the facility's capacity."""
    counted = {d.facility_id for d in city.devices if d.type is DeviceType.OCCUPANCY}
    panel = bar_gauge_panel(
        Look(
            "Occupancy against capacity (fullest hour)",
            "Per facility, the highest hourly mean of its occupancy counters in the time range; each bar is full "
            "at the facility's capacity from the city model (pupils, beds, residents, seats, parking spaces).",
            unit_of("occupancy"),
        ),
        [
            influx(
                f'SELECT max("occupancy") FROM (SELECT {mean_of("occupancy")} FROM {hourly("occupancy")} '
                f'WHERE {where(*selection)} GROUP BY time(1h), "facility") WHERE {where()} GROUP BY "facility"',
                alias="$tag_facility",
            )
        ],
    )
    panel.interval(HOURLY_MIN_INTERVAL).min(0)
    for facility in city.facilities:
        if facility.id in counted and facility.capacity:
            panel.override_by_name(
                facility.id,
                [
                    DynamicConfigValue(id_val="max", value=facility.capacity),
                    DynamicConfigValue(id_val="displayName", value=f"{facility.name} (of {facility.capacity})"),
                ],
            )
    return panel


def _bays(*condition: str) -> str:
    """Bays per interval whose last reading in it meets ``condition`` (every bay that reported, without one)."""
    return (
        f'SELECT count("occupied") AS "bays" FROM (SELECT last("occupied") AS "occupied" FROM {raw("parking")} '
        f'WHERE {where(*SELECTION)} GROUP BY time({INTERVAL}), "device") WHERE {where(*condition)} '
        f"GROUP BY time({INTERVAL}) fill(none)"
    )


def _parking() -> AnyPanel:
    panel = series_panel(
        Look(
            "Parking bays occupied (last 24 h)",
            "Bays whose last reading in each interval said occupied, and bays that reported in it, from raw points.",
            "short",
        ),
        [influx(_bays('"occupied" = true'), "A", alias="occupied"), influx(_bays(), "B", alias="reporting")],
    )
    return panel.time_from("24h").interval("15m")


def _energy_per_facility() -> AnyPanel:
    return series_panel(
        Look(
            "Energy per facility",
            "Electricity each facility's meters counted per interval (reset-aware register increases), from the "
            "hourly roll-ups.",
            unit_of("energy"),
        ),
        [
            influx(
                f'SELECT sum("energy_increase") AS "energy" FROM {hourly("energy")} WHERE {where(*SELECTION)} '
                f'GROUP BY time({INTERVAL}), "facility" fill(none)',
                alias="$tag_facility",
            )
        ],
        bars=True,
    ).interval(HOURLY_MIN_INTERVAL)


def build(city: City) -> dash.Dashboard:
    per_day = series_panel(
        Look(
            "Energy per local day (30 days)",
            "Electricity per district and local day of the city's time zone over the last 30 days, from the daily "
            "roll-ups.",
            unit_of("energy"),
        ),
        [
            influx(
                f'SELECT sum("energy_increase") AS "energy" FROM {daily("energy")} WHERE {where(*SELECTION)} '
                f"GROUP BY time(1d), \"district\" fill(none) tz('{city.timezone}')",
                alias="$tag_district",
            )
        ],
        bars=True,
    ).time_from("30d")
    board = new_dashboard(
        UID,
        "district drill-down",
        "One or more districts and facility kinds: environment, energy, occupancy, parking, lighting and waste.",
        city,
        default_range="7d",
    )
    board.with_variable(variables.district()).with_variable(variables.facility_kind())
    panels: list[tuple[AnyPanel, int]] = [
        (hourly_mean("pm25", "PM2.5", "Fine particulate matter."), 12),
        (hourly_mean("no2", "NO2", "Nitrogen dioxide."), 12),
        (hourly_mean("laeq", "Noise (LAeq)", "A-weighted equivalent sound level, an arithmetic mean of levels."), 12),
        (hourly_mean("fill_level", "Waste bin fill level", "Waste bins."), 12),
        (_energy_per_facility(), 12),
        (per_day, 12),
        (occupancy_against_capacity(city, SELECTION), 12),
        (_parking(), 12),
        (hourly_mean("dim_level", "Street-light dim level", "Street lights (0 = off, 100 = full)."), 12),
        (hourly_mean("lamp_power", "Street-light power", "Electrical power of the lamps."), 12),
    ]
    for panel, width in panels:
        board.with_panel(panel.span(width).height(8))
    return board
