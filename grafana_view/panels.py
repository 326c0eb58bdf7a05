"""Panel builders with the platform's defaults: every panel gets a title, a description, a unit, one datasource
and its queries (the dashboard builder lays them out left to right by ``span`` and ``height``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import bargauge, common, geomap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode

from grafana_view.datasources import INFLUX, PROMETHEUS
from grafana_view.influxql import InfluxQL

AnyPanel = stat.Panel | timeseries.Panel | table.Panel | bargauge.Panel | geomap.Panel
Target = cogbuilder.Builder[cogvariants.Dataquery]


def influx(query: str, ref_id: str = "A", *, as_table: bool = False, alias: str | None = None) -> InfluxQL:
    """A raw InfluxQL target on the platform's InfluxDB datasource."""
    target = InfluxQL(" ".join(query.split())).ref_id(ref_id).datasource(INFLUX)
    if as_table:
        target.table()
    if alias is not None:
        target.alias(alias)
    return target


def promql(expr: str, legend: str, ref_id: str = "A") -> prometheus.Dataquery:
    """A PromQL range query on the platform's Prometheus datasource."""
    return prometheus.Dataquery().expr(expr).legend_format(legend).range().ref_id(ref_id).datasource(PROMETHEUS)


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    """Absolute thresholds, the first step's value None (the base colour)."""
    return dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=v, color=c) for v, c in steps])


@dataclass(frozen=True, slots=True)
class Look:
    """What every panel states: its title, what it shows and how to read it, the unit of its values."""

    title: str
    description: str
    unit: str


def dress(panel: AnyPanel, look: Look, datasource: DataSourceRef, targets: Sequence[Target]) -> None:
    """Title, description, unit, datasource and queries (the builders mutate in place)."""
    panel.title(look.title).description(look.description).unit(look.unit).datasource(datasource)
    for target in targets:
        panel.with_target(target)


def stat_panel(
    look: Look, targets: Sequence[Target], *, datasource: DataSourceRef = INFLUX, calc: str = "lastNotNull"
) -> stat.Panel:
    """One big number per series (reduced by ``calc``), coloured by thresholds."""
    panel = stat.Panel()
    dress(panel, look, datasource, targets)
    panel.reduce_options(common.ReduceDataOptions().calcs([calc]).values(False))
    panel.graph_mode(common_models.BigValueGraphMode.NONE).color_mode(common_models.BigValueColorMode.VALUE)
    panel.text_mode(common_models.BigValueTextMode.VALUE_AND_NAME)
    return panel


def series_panel(
    look: Look, targets: Sequence[Target], *, datasource: DataSourceRef = INFLUX, bars: bool = False
) -> timeseries.Panel:
    """A time series (lines, or bars for per-interval amounts)."""
    panel = timeseries.Panel()
    dress(panel, look, datasource, targets)
    if bars:
        panel.draw_style(common_models.GraphDrawStyle.BARS).fill_opacity(80)
    else:
        panel.line_width(1).fill_opacity(10)
    return panel


def table_panel(look: Look, targets: Sequence[Target], *, datasource: DataSourceRef = INFLUX) -> table.Panel:
    panel = table.Panel()
    dress(panel, look, datasource, targets)
    return panel


def bar_gauge_panel(look: Look, targets: Sequence[Target], *, datasource: DataSourceRef = INFLUX) -> bargauge.Panel:
    """One bar per series, filled from the field's min to its max."""
    panel = bargauge.Panel()
    dress(panel, look, datasource, targets)
    panel.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    panel.orientation(common_models.VizOrientation.HORIZONTAL)
    return panel
