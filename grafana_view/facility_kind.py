"""Facility-kind view: every facility of one kind (all schools, all hospitals, ...) side by side."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from grafana_view import variables
from grafana_view.common import new_dashboard
from grafana_view.panels import AnyPanel, Look, influx, series_panel, table_panel
from grafana_view.queries import HOURLY_MIN_INTERVAL, INTERVAL, VARIABLE_SOURCE, hourly, matches, mean_of, raw, where
from grafana_view.units import unit_of
from smartcity.city.model import City

UID = "smartcity-facility-kind"
SELECTION = (matches("facility_kind", "facility_kind"), matches("facility", "facility"))


def per_facility(metric: str, title: str, about: str) -> AnyPanel:
    return series_panel(
        Look(title, f"{about} Hourly-roll-up mean of every reading per facility and interval.", unit_of(metric)),
        [
            influx(
                f"SELECT {mean_of(metric)} FROM {hourly(metric)} WHERE {where(*SELECTION)} "
                f'GROUP BY time({INTERVAL}), "facility" fill(none)',
                alias="$tag_facility",
            )
        ],
    ).interval(HOURLY_MIN_INTERVAL)


def build(city: City) -> dash.Dashboard:
    board = new_dashboard(
        UID,
        "facilities of one kind",
        "Every facility of the chosen kind: occupancy, indoor climate, energy, air quality and noise.",
        city,
        default_range="7d",
    )
    board.with_variable(variables.facility_kind(multi=False)).with_variable(variables.facility())
    reporting = table_panel(
        Look(
            "Facilities reporting (last hour)",
            "Readings and devices per facility in the last hour, from raw device vitals (every device reports them).",
            "short",
        ),
        [
            influx(
                f'SELECT count("seq") AS "readings" FROM {raw(VARIABLE_SOURCE)} WHERE {where(*SELECTION)} '
                'GROUP BY "facility"',
                as_table=True,
            )
        ],
    ).time_from("1h")
    energy = series_panel(
        Look(
            "Energy per facility",
            "Electricity each facility's meters counted per interval (reset-aware register increases), hourly "
            "roll-ups.",
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
    panels: list[tuple[AnyPanel, int]] = [
        (reporting, 24),
        (per_facility("occupancy", "Occupancy", "People (or vehicles) present."), 12),
        (energy, 12),
        (per_facility("co2", "Indoor CO2", "Carbon dioxide indoors."), 12),
        (per_facility("indoor_temperature", "Indoor temperature", "Room temperature."), 12),
        (per_facility("pm25", "PM2.5", "Fine particulate matter at the facility."), 12),
        (per_facility("laeq", "Noise (LAeq)", "A-weighted equivalent sound level."), 12),
    ]
    for panel, width in panels:
        board.with_panel(panel.span(width).height(8))
    return board
