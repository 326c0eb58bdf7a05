"""The platform's Grafana alert rules, each with its condition inside its query.

Every rule has the same three steps: ``A`` the datasource query, which answers rows (or series) only while the
rule fires, each value above zero; ``B`` a Reduce (``last``, non-numbers dropped) to one number per series; ``C``
a Threshold ``B > 0``, the rule's condition. The real threshold lives in ``A`` (an InfluxQL subquery filtered on
its own result, InfluxQL's form of ``HAVING``; a PromQL comparison), so the query alone says whether the rule
fires and a test can run it against a real influxd. No rows is the quiet state (``noDataState: OK``); a query
InfluxDB refuses is an error, not quiet (``execErrState: Error``). Inside a subquery InfluxDB 1.x divides an
integer by an integer literal as integers (``count / 10`` of 108 is 10), so the rules divide by float literals.

- **PM2.5 above the WHO guideline**: per district, the mean of the last 60 minutes' PM2.5 readings above
  :data:`~grafana_view.queries.WHO_PM25_24H` (raw points: the hourly roll-up of the current hour is written an
  hour later).
- **Devices offline**: devices whose last status in the last 24 hours is offline, as a share of the city model's
  devices, above :data:`OFFLINE_PERCENT`.
- **Gateway spool growing**: a gateway's spool depth rising over :data:`SPOOL_WINDOW` (Prometheus).
- **Dead letters**: refused messages per minute over the last :data:`LETTER_WINDOW_MIN` minutes above
  :data:`LETTERS_PER_MINUTE`.

:func:`rules` builds them as the alerting provisioning HTTP API takes them (grafana-foundation-sdk's ``Rule``);
:mod:`grafana_view.alerting_files` writes the same rules as a provisioning file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from grafana_foundation_sdk.builders import alerting, expr, prometheus
from grafana_foundation_sdk.models import alerting as alerting_models
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from grafana_view import device_health, overview
from grafana_view.datasources import INFLUX, PROMETHEUS
from grafana_view.influxql import InfluxQL
from grafana_view.queries import HEALTH, LETTERS, TIME_FILTER, WHO_PM25_24H, raw, ref
from smartcity.city.model import City
from smartcity.contract.metrics import METRICS

GROUP = "smartcity"
"""The rule group: every rule, evaluated every :data:`INTERVAL_S` seconds."""
INTERVAL_S = 60
PLATFORM_LABEL = {"platform": "smartcity"}
"""Every rule carries it, so a notification policy can route the platform's alerts (``platform = smartcity``)."""
PM25_WINDOW_S = 3_600
OFFLINE_PERCENT = 10
OFFLINE_LOOKBACK_S = 86_400
"""How far back a device's last status is looked for (the device health dashboard's range)."""
SPOOL_WINDOW = "10m"
LETTER_WINDOW_MIN = 10
LETTERS_PER_MINUTE = 10
EXPRESSIONS = DataSourceRef(type_val="__expr__", uid="__expr__")


@dataclass(frozen=True, slots=True)
class PanelLink:
    """The dashboard panel a rule links to (Grafana shows the rule's state on it)."""

    dashboard_uid: str
    panel_title: str


def _pm25_query() -> str:
    pm25, source = ref("pm25"), raw(METRICS["pm25"].measurement)
    inner = f'SELECT mean({pm25}) AS {pm25} FROM {source} WHERE {TIME_FILTER} GROUP BY "district"'
    return f'SELECT {pm25} FROM ({inner}) WHERE {TIME_FILTER} AND {pm25} > {WHO_PM25_24H:g} GROUP BY "district"'


def _offline_query(devices: int) -> str:
    last = f'SELECT last("online") AS "online" FROM {HEALTH} WHERE {TIME_FILTER} GROUP BY "device"'
    share = (
        f'SELECT count("online") * 100.0 / {max(devices, 1)} AS "offline" FROM ({last}) '
        f'WHERE {TIME_FILTER} AND "online" = false'
    )
    return f'SELECT "offline" FROM ({share}) WHERE {TIME_FILTER} AND "offline" > {OFFLINE_PERCENT}'


def _letters_query() -> str:
    rate = f'SELECT count("payload_bytes") / {LETTER_WINDOW_MIN:.1f} AS "per_minute" FROM {LETTERS} WHERE {TIME_FILTER}'
    return f'SELECT "per_minute" FROM ({rate}) WHERE {TIME_FILTER} AND "per_minute" > {LETTERS_PER_MINUTE}'


SPOOL_GROWING = f"max by (instance) (deriv(smartcity_gateway_spool_depth[{SPOOL_WINDOW}])) > 0"
"""Points per second a gateway's spool grew by (linear fit over the window); no series while it does not grow."""


def _influx(query: str, window_s: int) -> alerting.Query:
    model = InfluxQL(query).ref_id("A").datasource(INFLUX)
    return (
        alerting.Query("A")
        .datasource_uid(str(INFLUX.uid))
        .relative_time_range(alerting_models.RelativeTimeRange(from_val=window_s, to=0))
        .model(model)
    )


def _prometheus(query: str, window_s: int) -> alerting.Query:
    model = prometheus.Dataquery().expr(query).instant().ref_id("A").datasource(PROMETHEUS)
    return (
        alerting.Query("A")
        .datasource_uid(str(PROMETHEUS.uid))
        .relative_time_range(alerting_models.RelativeTimeRange(from_val=window_s, to=0))
        .model(model)
    )


def _expressions() -> list[alerting.Query]:
    reduce = (
        expr.TypeReduce()
        .ref_id("B")
        .datasource(EXPRESSIONS)
        .expression("A")
        .reducer("last")
        .settings(expr.ExprTypeReduceSettings().mode("dropNN"))
    )
    above = expr.ExprTypeThresholdConditionsEvaluator().type("gt").params([0])
    threshold = (
        expr.TypeThreshold()
        .ref_id("C")
        .datasource(EXPRESSIONS)
        .expression("B")
        .conditions([expr.ExprTypeThresholdConditions().evaluator(above)])
    )
    return [
        alerting.Query("B").datasource_uid(str(EXPRESSIONS.uid)).model(reduce),
        alerting.Query("C").datasource_uid(str(EXPRESSIONS.uid)).model(threshold),
    ]


@dataclass(frozen=True, slots=True)
class _Spec:
    uid: str
    title: str
    query: alerting.Query
    pending: str
    severity: str
    summary: str
    description: str
    link: PanelLink


def _specs(city: City) -> list[_Spec]:
    devices = len(city.devices)
    return [
        _Spec(
            "smartcity-pm25-above-who",
            "PM2.5 above the WHO guideline",
            _influx(_pm25_query(), PM25_WINDOW_S),
            "5m",
            "warning",
            f'PM2.5 in {{{{ $labels.district }}}}: {{{{ printf "%.1f" $values.B.Value }}}} ug/m3 over the last '
            f"hour (WHO guideline {WHO_PM25_24H:g})",
            f"The mean of the district's PM2.5 readings over the last 60 minutes is above the WHO 2021 guideline "
            f"of {WHO_PM25_24H:g} ug/m3 (raw points), and has been for 5 minutes.",
            PanelLink(overview.UID, "PM2.5 hours above the WHO guideline"),
        ),
        _Spec(
            "smartcity-devices-offline",
            "Devices offline",
            _influx(_offline_query(devices), OFFLINE_LOOKBACK_S),
            "10m",
            "critical",
            f'{{{{ printf "%.1f" $values.B.Value }}}} % of the city\'s {devices} devices are offline',
            f"Devices whose last status (birth, status or last will, from the gateways' device_health) in the last "
            f"24 hours is offline make up more than {OFFLINE_PERCENT} % of the {devices} devices of the city model.",
            PanelLink(device_health.UID, "Devices offline"),
        ),
        _Spec(
            "smartcity-gateway-spool-growing",
            "Gateway spool growing",
            _prometheus(SPOOL_GROWING, 600),
            "10m",
            "critical",
            "The spool of gateway {{ $labels.instance }} grows by "
            '{{ printf "%.1f" $values.B.Value }} points/s: InfluxDB is not taking its writes',
            f"The gateway's local spool (points InfluxDB did not take) has kept growing (its slope over "
            f"{SPOOL_WINDOW} above zero) for 10 minutes: InfluxDB is down, refusing writes or too slow. The points "
            "are kept in the spool and written once InfluxDB takes them again.",
            PanelLink(device_health.UID, "Gateway spool depth"),
        ),
        _Spec(
            "smartcity-dead-letters",
            "Dead letters above the usual rate",
            _influx(_letters_query(), LETTER_WINDOW_MIN * 60),
            "5m",
            "warning",
            f'{{{{ printf "%.1f" $values.B.Value }}}} dead letters per minute over the last {LETTER_WINDOW_MIN} '
            "minutes",
            f"The gateways refused more than {LETTERS_PER_MINUTE} messages per minute over the last "
            f"{LETTER_WINDOW_MIN} minutes (dead_letters, every reason): a device or a firmware sends what the "
            "contract does not accept. The device health dashboard shows them by reason.",
            PanelLink(device_health.UID, "Dead letters by reason"),
        ),
    ]


def rules(city: City, *, folder_uid: str, panel_id: Callable[[PanelLink], int]) -> list[alerting.Rule]:
    """The rules as the provisioning API takes them, in folder ``folder_uid``, each linked to its panel
    (``panel_id`` finds the panel's id in the built dashboards)."""
    built = []
    for spec in _specs(city):
        annotations = {
            "summary": spec.summary,
            "description": spec.description,
            "__dashboardUid__": spec.link.dashboard_uid,
            "__panelId__": str(panel_id(spec.link)),
        }
        rule = (
            alerting.Rule(spec.title)
            .uid(spec.uid)
            .queries([spec.query, *_expressions()])
            .condition("C")
            .for_val(spec.pending)
            .no_data_state("OK")
            .exec_err_state("Error")
            .labels(PLATFORM_LABEL | {"severity": spec.severity})
            .annotations(annotations)
            .folder_uid(folder_uid)
            .rule_group(GROUP)
            .org_id(1)
        )
        built.append(rule)
    return built
