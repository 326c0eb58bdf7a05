"""Gateway operations: the gateway's, the planning API's and the roll-up worker's Prometheus metrics (scraped as
deploy/prometheus/prometheus.yml configures)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from grafana_view.common import new_dashboard
from grafana_view.datasources import PROMETHEUS
from grafana_view.panels import AnyPanel, Look, promql, series_panel, stat_panel
from smartcity.city.model import City

UID = "smartcity-operations"
RATE = "[$__rate_interval]"


def _series(title: str, about: str, unit: str, *queries: tuple[str, str]) -> AnyPanel:
    targets = [promql(expr, legend, chr(ord("A") + n)) for n, (expr, legend) in enumerate(queries)]
    return series_panel(Look(title, about, unit), targets, datasource=PROMETHEUS)


def _p95(histogram: str, by: str = "") -> str:
    return f"histogram_quantile(0.95, sum by (le{', ' + by if by else ''}) (rate({histogram}_bucket{RATE})))"


def _gateway() -> list[AnyPanel]:
    g = "smartcity_gateway_"
    up = stat_panel(
        Look(
            "Gateway links",
            "1 while each gateway is connected to the broker and InfluxDB accepts its writes.",
            "bool_on_off",
        ),
        [
            promql(f"min({g}broker_connected)", "broker", "A"),
            promql(f"min({g}influx_up)", "InfluxDB", "B"),
        ],
        datasource=PROMETHEUS,
    )
    return [
        up,
        _series(
            "Messages received",
            "MQTT messages per second, by topic kind.",
            "reqps",
            (f"sum by (kind) (rate({g}messages_received_total{RATE}))", "{{kind}}"),
        ),
        _series(
            "Readings and points",
            "Readings that passed validation and points InfluxDB answered 204 for, per second.",
            "short",
            (f"sum(rate({g}readings_accepted_total{RATE}))", "readings accepted"),
            (f"sum(rate({g}points_written_total{RATE}))", "points written"),
        ),
        _series(
            "Rejected by reason",
            "Inputs dead-lettered per second, by rejection reason.",
            "short",
            (f"sum by (reason) (rate({g}rejected_total{RATE}))", "{{reason}}"),
        ),
        _series(
            "Write latency and end-to-end lag (p95)",
            "Time to make one batch durable, and from the device timestamp to the point being written.",
            "s",
            (_p95(f"{g}batch_write_seconds"), "batch write"),
            (_p95(f"{g}end_to_end_lag_seconds"), "end to end"),
        ),
        _series(
            "Spool, in flight, retries",
            "Points in the local spool, QoS 1 messages not yet acknowledged, InfluxDB writes retried per second.",
            "short",
            (f"sum({g}spool_depth)", "spool depth"),
            (f"sum({g}inflight_unacked)", "unacknowledged"),
            (f"sum(rate({g}write_retries_total{RATE}))", "write retries/s"),
        ),
    ]


def _api_and_rollups() -> list[AnyPanel]:
    a, r = "smartcity_api_", "smartcity_rollup_"
    return [
        _series(
            "API requests",
            "Requests answered per second, by status.",
            "reqps",
            (f"sum by (status) (rate({a}requests_total{RATE}))", "{{status}}"),
        ),
        _series(
            "API latency (p95)",
            "Time to answer a request, by route template.",
            "s",
            (_p95(f"{a}request_seconds", "route"), "{{route}}"),
        ),
        _series(
            "API cache age",
            "Seconds since the last-value cache was refreshed, and refreshes that failed in a row.",
            "s",
            (f"max({a}latest_cache_age_seconds)", "cache age"),
            (f"max({a}refresh_failures)", "failed refreshes"),
        ),
        _series(
            "Roll-up lag and backlog",
            "Now minus the end of the last completed hour (about the settle time plus up to an hour when current), "
            "and closed hours not yet rolled up.",
            "s",
            (f"max({r}lag_seconds)", "lag"),
            (f"max({r}backlog_windows) * 3600", "backlog (as seconds)"),
        ),
        _series(
            "Roll-up work",
            "Roll-up points written per second by tier, and failed cycles.",
            "short",
            (f"sum by (tier) (rate({r}points_written_total{RATE}))", "{{tier}} points"),
            (f"sum(rate({r}failures_total{RATE}))", "failures"),
        ),
    ]


def build(city: City) -> dash.Dashboard:
    board = new_dashboard(
        UID,
        "gateway operations",
        "The ingest gateway, the planning API and the roll-up worker, from their Prometheus metrics.",
        city,
        default_range="6h",
    )
    panels = _gateway() + _api_and_rollups()
    for index, panel in enumerate(panels):
        board.with_panel(panel.span(24 if index == 0 else 12).height(4 if index == 0 else 8))
    return board
