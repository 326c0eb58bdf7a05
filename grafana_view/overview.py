"""City overview: the districts on a map with PM2.5 per district and facility, and the city's headline figures."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, geomap
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.common import FrameGeometrySourceMode
from grafana_foundation_sdk.models.dashboard import FieldColorModeId
from grafana_foundation_sdk.models.geomap import TooltipMode

from grafana_view import maps
from grafana_view.common import new_dashboard
from grafana_view.datasources import INFLUX
from grafana_view.panels import Look, dress, influx, stat_panel, thresholds
from grafana_view.queries import (
    HEALTH,
    HOURLY_MIN_INTERVAL,
    WHO_PM25_24H,
    above,
    hourly,
    mean_of,
    raw,
    ref,
    tag_is,
    where,
)
from grafana_view.units import unit_of
from smartcity.city.model import City, DeviceType, FacilityKind

UID = "smartcity-city-overview"
PM25_STEPS = ((None, "green"), (WHO_PM25_24H, "orange"), (25.0, "red"))
"""Green up to the WHO 24-hour guideline, red from its interim target 4 (25 ug/m3)."""


def _markers(name: str, ref_id: str, key: str, gazetteer: str, size: int) -> common.MapLayerOptions:
    return (
        common.MapLayerOptions()
        .type("markers")
        .name(name)
        .location(
            common.FrameGeometrySource()
            .mode(FrameGeometrySourceMode.LOOKUP)
            .lookup(key)
            .gazetteer(maps.public_url(gazetteer))
        )
        .filter_data({"id": "byRefId", "options": ref_id})
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "pm25", "fixed": "green"},
                    "opacity": 0.9,
                    "size": {"fixed": size},
                    "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                    "text": {"mode": "field", "field": key},
                },
            }
        )
        .tooltip(True)
    )


def _map() -> geomap.Panel:
    outlines = (
        common.MapLayerOptions()
        .type("geojson")
        .name("District outlines")
        .config(
            {
                "src": maps.public_url(maps.DISTRICTS),
                "rules": [],
                "style": {"color": {"fixed": "dark-blue"}, "opacity": 0.2, "lineWidth": 2},
            }
        )
        .tooltip(True)
    )
    look = Look(
        "PM2.5 by district and facility (hourly roll-ups)",
        "Mean PM2.5 of every reading in the time range (sum of the hourly roll-ups' sums over their counts), one "
        "marker per district centre and per facility with an air-quality sensor: never one per sensor. The "
        f"outlines are the districts of the city model. Orange from the WHO 24-hour guideline ({WHO_PM25_24H:g} "
        "ug/m3), red from 25 ug/m3.",
        unit_of("pm25"),
    )
    panel = geomap.Panel()
    dress(
        panel,
        look,
        INFLUX,
        [
            influx(
                f'SELECT {mean_of("pm25")} FROM {hourly("pm25")} WHERE {where()} GROUP BY "district"',
                "districts",
                as_table=True,
            ),
            influx(
                f'SELECT {mean_of("pm25")} FROM {hourly("pm25")} WHERE {where()} GROUP BY "facility"',
                "facilities",
                as_table=True,
            ),
        ],
    )
    panel.interval(HOURLY_MIN_INTERVAL).thresholds(thresholds(*PM25_STEPS))
    panel.color_scheme(dash.FieldColor().mode(FieldColorModeId.THRESHOLDS))
    panel.view(geomap.MapViewConfig().id("fit").all_layers(True).zoom(13))
    panel.basemap(common.MapLayerOptions().type("default").name("Basemap"))
    panel.layers(
        [
            outlines,
            _markers("Districts", "districts", "district", maps.DISTRICT_CENTRES, 18),
            _markers("Facilities", "facilities", "facility", maps.FACILITIES, 9),
        ]
    )
    panel.controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True).show_scale(True))
    panel.tooltip(geomap.TooltipOptions().mode(TooltipMode.DETAILS))
    return panel


def _car_park_capacity(city: City) -> int:
    """Spaces of the car parks with an occupancy counter (the denominator of the API's car-park indicator)."""
    counted = {d.facility_id for d in city.devices if d.type is DeviceType.OCCUPANCY}
    return sum(f.capacity or 0 for f in city.facilities if f.kind is FacilityKind.CAR_PARK and f.id in counted)


def build(city: City) -> dash.Dashboard:
    lights = sum(1 for device in city.devices if device.type is DeviceType.STREET_LIGHT)
    spaces = _car_park_capacity(city)
    pm25 = mean_of("pm25").split(" AS ")[0]
    hours_above = stat_panel(
        Look(
            "PM2.5 hours above the WHO guideline",
            f"Per district, the hours of the time range whose mean PM2.5 over the district's sensors was above "
            f"{WHO_PM25_24H:g} ug/m3 (the API's pm25_hours_above_who, from the hourly roll-ups).",
            "h",
        ),
        [
            influx(
                f'SELECT sum("above") FROM (SELECT {above(pm25, WHO_PM25_24H)} AS "above" FROM {hourly("pm25")} '
                f'WHERE {where()} GROUP BY time(1h), "district") GROUP BY "district"',
                alias="$tag_district",
            )
        ],
    ).thresholds(thresholds((None, "green"), (1, "orange"), (8, "red")))
    energy_today = stat_panel(
        Look(
            "Energy today",
            "Electricity the city's meters counted since local midnight (the dashboard's time zone is the city's): "
            "each meter's increases between consecutive readings, a reset (a drop) counting nothing, from raw "
            "points.",
            unit_of("energy"),
        ),
        [
            influx(
                f'SELECT sum("used") FROM (SELECT non_negative_difference("energy") AS "used" FROM {raw("energy")} '
                f'WHERE {where()} GROUP BY "device")'
            )
        ],
    ).time_from("now/d")
    car_parks = (
        stat_panel(
            Look(
                "Car-park occupancy",
                f"Vehicles present in the car parks over the last 15 minutes (each car park's mean over its counters) "
                f"as a share of their {spaces} spaces (city model).",
                "percent",
            ),
            [
                influx(
                    f'SELECT sum("present") / {max(spaces, 1)} * 100 FROM (SELECT mean("occupancy") AS "present" '
                    f"FROM {raw('occupancy')} WHERE {where(tag_is('facility_kind', FacilityKind.CAR_PARK.value))} "
                    'GROUP BY "facility")'
                )
            ],
        )
        .time_from("15m")
        .thresholds(thresholds((None, "green"), (80, "orange"), (95, "red")))
    )
    dark = f"{above(ref('dim_level_min'), 0)} * (1 - {above(ref('lamp_power_max'), 0)})"
    lights_working = (
        stat_panel(
            Look(
                "Street lights working",
                f"Share of the city's {lights} street lights that reported in the last 24 hours and drew power in "
                "every hour they were switched on (no hour with dim_level_min > 0 and lamp_power_max = 0), as the "
                "API's street_lights_working, from the hourly roll-ups.",
                "percent",
            ),
            [
                influx(
                    f'SELECT sum("working") / {max(lights, 1)} * 100 FROM (SELECT 1 - max("dark") AS "working" FROM '
                    f'(SELECT {dark} AS "dark" FROM {hourly("lamp_power")} WHERE {where()} GROUP BY "device") '
                    'GROUP BY "device")'
                )
            ],
        )
        .time_from("24h")
        .thresholds(thresholds((None, "red"), (90, "orange"), (98, "green")))
    )
    online = stat_panel(
        Look(
            "Devices online",
            f"Devices whose last status (birth, status message or last will, from the gateways' device_health) says "
            f"online, of the {len(city.devices)} devices in the city model.",
            "short",
        ),
        [
            influx(
                f'SELECT count("online") FROM (SELECT last("online") AS "online" FROM {HEALTH} WHERE {where()} '
                'GROUP BY "device") WHERE "online" = true'
            )
        ],
    ).time_from("24h")
    board = new_dashboard(
        UID,
        "city overview",
        "The districts, air quality per district and facility, and the city's headline figures.",
        city,
        default_range="24h",
    )
    for panel, width, height in (
        (hours_above, 8, 5),
        (energy_today, 4, 5),
        (car_parks, 4, 5),
        (lights_working, 4, 5),
        (online, 4, 5),
        (_map(), 24, 16),
    ):
        board.with_panel(panel.span(width).height(height))
    return board
