"""What every dashboard shares: uid and tags, the city's time zone, the default range, links to the others."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DashboardLinkType

from smartcity.city.model import City

TAG = "smartcity"
FOLDER = "Smart city"
FOLDER_UID = "smartcity"
"""The folder file provisioning puts the dashboards and the alert rules in."""


def new_dashboard(uid: str, title: str, description: str, city: City, *, default_range: str) -> dash.Dashboard:
    """A dashboard in the city's time zone (so "today" and daily buckets are the city's local days), refreshed
    every minute, linked to the platform's other dashboards."""
    return (
        dash.Dashboard(f"{city.name}: {title}")
        .uid(uid)
        .description(description)
        .tags([TAG])
        .timezone(city.timezone)
        .time(f"now-{default_range}", "now")
        .refresh("1m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
        .link(
            dash.DashboardLink("Smart city")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(True)
        )
    )
