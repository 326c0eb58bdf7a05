"""Device health: online and offline from the gateways' status tracking, last seen, readings lost upstream
(sequence gaps), dead letters by reason, and the gateway's spool."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from grafana_view import variables
from grafana_view.common import new_dashboard
from grafana_view.datasources import PROMETHEUS
from grafana_view.panels import AnyPanel, Look, bar_gauge_panel, influx, promql, series_panel, stat_panel, table_panel
from grafana_view.queries import HEALTH, INTERVAL, LETTERS, matches, where
from smartcity.city.model import City

UID = "smartcity-device-health"
IN_DISTRICT = matches("district", "district")


def _status(state: str, title: str) -> AnyPanel:
    return stat_panel(
        Look(
            title,
            f"Devices of the chosen districts whose last status in the time range (birth, status or last will, as "
            f"the gateways recorded it in device_health) is {state}.",
            "short",
        ),
        [
            influx(
                f'SELECT count("online") FROM (SELECT last("online") AS "online" FROM {HEALTH} '
                f'WHERE {where(IN_DISTRICT)} GROUP BY "device") WHERE "online" = {str(state == "online").lower()}'
            )
        ],
    ).no_value("0")


def _devices() -> AnyPanel:
    panel = table_panel(
        Look(
            "Devices: status, last seen, gaps",
            "One row per device that a gateway tracked in the time range: its last status, when the gateway last "
            "received anything from it, and its sequence gaps (readings lost upstream; with several gateway "
            "replicas each counts its own share, the planning API merges them exactly).",
            "none",
        ),
        [
            influx(
                f'SELECT last("online") AS "online", last("last_seen_ms") AS "last_seen", last("gaps") AS "gaps" '
                f'FROM {HEALTH} WHERE {where(IN_DISTRICT)} GROUP BY "device", "device_type", "district"',
                as_table=True,
            )
        ],
    )
    panel.override_by_name("last_seen", [DynamicConfigValue(id_val="unit", value="dateTimeFromNow")])
    panel.override_by_name("gaps", [DynamicConfigValue(id_val="unit", value="short")])
    return panel


def _gaps() -> tuple[AnyPanel, AnyPanel]:
    inner = f'SELECT last("gaps") AS "gaps" FROM {HEALTH} WHERE {where(IN_DISTRICT)}'
    per_district = bar_gauge_panel(
        Look(
            "Readings lost upstream, per district",
            "Sum of the devices' sequence gaps at the end of the time range: readings devices numbered that never "
            "reached a gateway.",
            "short",
        ),
        [
            influx(
                f'SELECT sum("gaps") FROM ({inner} GROUP BY "device", "replica", "district") GROUP BY "district"',
                alias="$tag_district",
            )
        ],
    )
    over_time = series_panel(
        Look(
            "Readings lost upstream over time",
            "The devices' sequence gaps summed per interval (each device's last figure carried forward).",
            "short",
        ),
        [
            influx(
                f'SELECT sum("gaps") AS "gaps" FROM ({inner} GROUP BY time({INTERVAL}), "device", "replica" '
                f"fill(previous)) WHERE {where()} GROUP BY time({INTERVAL})",
                alias="sequence gaps",
            )
        ],
    ).interval("5m")
    return per_district, over_time


def _dead_letters() -> tuple[AnyPanel, AnyPanel]:
    over_time = series_panel(
        Look(
            "Dead letters by reason",
            "Messages the gateways refused, per interval and rejection reason (dead_letters; the whole city).",
            "short",
        ),
        [
            influx(
                f'SELECT count("payload_bytes") AS "letters" FROM {LETTERS} WHERE {where()} '
                f'GROUP BY time({INTERVAL}), "reason" fill(none)',
                alias="$tag_reason",
            )
        ],
        bars=True,
    ).interval("5m")
    totals = bar_gauge_panel(
        Look("Dead letters in the range, by reason", "Refused messages per rejection reason.", "short"),
        [
            influx(
                f'SELECT count("payload_bytes") AS "letters" FROM {LETTERS} WHERE {where()} GROUP BY "reason"',
                alias="$tag_reason",
            )
        ],
    )
    return over_time, totals


def build(city: City) -> dash.Dashboard:
    board = new_dashboard(
        UID,
        "device health",
        "Which devices are online, when each was last heard of, what was lost upstream, what the gateways refused.",
        city,
        default_range="24h",
    )
    board.with_variable(variables.district())
    spool = series_panel(
        Look(
            "Gateway spool depth",
            "Points each gateway holds in its local spool because InfluxDB did not take them (0 when healthy).",
            "short",
        ),
        [promql("max by (instance) (smartcity_gateway_spool_depth)", "{{instance}}")],
        datasource=PROMETHEUS,
    )
    per_district, over_time = _gaps()
    letters, letter_totals = _dead_letters()
    panels: list[tuple[AnyPanel, int, int]] = [
        (_status("online", "Devices online"), 6, 5),
        (_status("offline", "Devices offline"), 6, 5),
        (spool, 12, 5),
        (_devices(), 24, 10),
        (per_district, 12, 8),
        (over_time, 12, 8),
        (letters, 12, 8),
        (letter_totals, 12, 8),
    ]
    for panel, width, height in panels:
        board.with_panel(panel.span(width).height(height))
    return board
