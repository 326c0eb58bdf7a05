"""The alerting provisioning files: every rule has what Grafana needs to load it (a uid, a title, a condition
naming one of its steps, a pending period, labels, a datasource the provisioned datasources define, a panel
that exists), keeps its threshold in its query, and is the API's rule rewritten; the example notification
policy routes the rules' label to the example contact point."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from gateway.metrics import GatewayMetrics
from grafana_view.alerting_files import CONTACT_POINT, WEBHOOK_VARIABLE, api_json, rules_file
from grafana_view.alerts import INTERVAL_S, PLATFORM_LABEL
from grafana_view.build import alert_rules, dashboards, files
from grafana_view.cli import demo_city
from grafana_view.common import FOLDER
from grafana_view.datasources import datasources_file, prometheus_file
from tests.support.grafana_expand import duration_ms

CITY = demo_city()
GENERATED = dict(files(CITY))
RULES_FILE = yaml.safe_load(GENERATED["provisioning/alerting/smartcity-rules.yaml"])
NOTIFICATIONS = yaml.safe_load(GENERATED["examples/alerting/smartcity-notifications.yaml"])
PROVIDER = yaml.safe_load(GENERATED["provisioning/dashboards/smartcity.yaml"])["providers"][0]
BOARDS = {path: json.loads(text) for path, text in GENERATED.items() if path.startswith("dashboards/")}
RULES = [rule for group in RULES_FILE["groups"] for rule in group["rules"]]
DATASOURCES = {source["uid"]: source for source in datasources_file()["datasources"]}  # type: ignore[attr-defined]
EXPRESSION = "__expr__"


def test_the_file_is_one_group_in_the_dashboards_folder() -> None:
    assert RULES_FILE["apiVersion"] == 1
    (group,) = RULES_FILE["groups"]
    assert group["folder"] == PROVIDER["folder"] == FOLDER
    assert duration_ms(group["interval"]) == INTERVAL_S * 1000
    assert group["orgId"] == 1
    assert group["name"]
    assert len(RULES) == 4


@pytest.mark.parametrize("rule", RULES, ids=[rule["title"] for rule in RULES])
def test_every_rule_has_what_grafana_needs(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"[a-z0-9-]{1,40}", rule["uid"])
    assert rule["title"]
    steps = {step["refId"]: step for step in rule["data"]}
    assert len(steps) == len(rule["data"]) == 3
    assert rule["condition"] in steps
    duration_ms(rule["for"])
    assert rule["labels"].items() >= PLATFORM_LABEL.items()
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert (rule["noDataState"], rule["execErrState"]) == ("OK", "Error")
    assert rule["annotations"]["summary"]
    assert len(rule["annotations"]["description"]) > 40
    for step in rule["data"]:
        assert step["model"]["refId"] == step["refId"]
        uid = step["datasourceUid"]
        assert uid == EXPRESSION or uid in DATASOURCES, uid
        assert step["model"]["datasource"]["uid"] == uid
        if uid != EXPRESSION:
            assert step["model"]["datasource"]["type"] == DATASOURCES[uid]["type"]
            assert step["relativeTimeRange"]["from"] > step["relativeTimeRange"]["to"] == 0
        else:
            assert step["model"]["expression"] in steps, "an expression reads another step"


@pytest.mark.parametrize("rule", RULES, ids=[rule["title"] for rule in RULES])
def test_the_threshold_is_in_the_query_and_the_condition_is_above_zero(rule: dict[str, Any]) -> None:
    steps = {step["refId"]: step["model"] for step in rule["data"]}
    query = steps["A"].get("query") or steps["A"]["expr"]
    assert re.search(r"(\)|\"\w+\") > \d+(\.\d+)?( GROUP BY \"\w+\")?$", query), query
    assert (steps["B"]["type"], steps["B"]["expression"], steps["B"]["reducer"]) == ("reduce", "A", "last")
    assert steps["C"]["conditions"] == [{"evaluator": {"type": "gt", "params": [0]}}]
    if "query" in steps["A"]:
        assert steps["A"]["rawQuery"] is True
        assert steps["A"]["resultFormat"] == "time_series"
        assert "$timeFilter" in query
    else:
        assert steps["A"]["instant"] is True


@pytest.mark.parametrize("rule", RULES, ids=[rule["title"] for rule in RULES])
def test_every_rule_links_to_a_panel_that_exists(rule: dict[str, Any]) -> None:
    board = BOARDS[f"dashboards/{rule['dashboardUid']}.json"]
    panels = {panel["id"]: panel for panel in board["panels"]}
    panel = panels[rule["panelId"]]
    step = rule["data"][0]
    assert panel["datasource"]["uid"] == step["datasourceUid"], "the panel shows what the rule watches"


@pytest.mark.parametrize("rule", RULES, ids=[rule["title"] for rule in RULES])
def test_nothing_grafana_would_expand_from_its_environment(rule: dict[str, Any]) -> None:
    for text in (rule["uid"], rule["title"], *rule["labels"].keys(), *rule["labels"].values()):
        assert "$" not in text, text
    for text in rule["annotations"].values():
        assert "${" not in text, text


def test_the_promql_rule_names_metrics_the_gateway_exports() -> None:
    exported = {family.name for family in GatewayMetrics().registry.collect()}
    promql = [step["model"]["expr"] for rule in RULES for step in rule["data"] if "expr" in step["model"]]
    assert len(promql) == 1
    names = set(re.findall(r"\bsmartcity_\w+", promql[0]))
    assert names
    assert names <= exported, names - exported
    jobs = {job["job_name"] for job in prometheus_file()["scrape_configs"]}  # type: ignore[attr-defined]
    assert "smartcity-gateway" in jobs


def test_the_file_is_the_api_rules_rewritten() -> None:
    api = [api_json(rule) for rule in alert_rules(CITY, dashboards(CITY), "any-folder")]
    assert {rule["folderUID"] for rule in api} == {"any-folder"}
    assert [rule["uid"] for rule in api] == [rule["uid"] for rule in RULES]
    for sent, written in zip(api, RULES, strict=True):
        assert sent["data"] == written["data"]
        assert sent["annotations"]["__dashboardUid__"] == written["dashboardUid"]
        assert int(sent["annotations"]["__panelId__"]) == written["panelId"]
        assert {k: v for k, v in sent["annotations"].items() if not k.startswith("__")} == written["annotations"]
        for key in ("title", "condition", "for", "labels", "noDataState", "execErrState"):
            assert sent[key] == written[key], key
    again = rules_file(alert_rules(CITY, dashboards(CITY), "any-folder"), FOLDER)
    assert json.loads(json.dumps(again)) == RULES_FILE


def test_the_example_policy_routes_the_platform_label_to_the_example_contact_point() -> None:
    assert NOTIFICATIONS["apiVersion"] == 1
    (contact,) = NOTIFICATIONS["contactPoints"]
    assert contact["name"] == CONTACT_POINT
    (receiver,) = contact["receivers"]
    assert receiver["uid"]
    assert receiver["settings"]["url"] == f"${{{WEBHOOK_VARIABLE}}}"
    (policy,) = NOTIFICATIONS["policies"]
    assert policy["receiver"] == CONTACT_POINT
    (route,) = policy["routes"]
    assert route["receiver"] == CONTACT_POINT
    assert route["object_matchers"] == [[name, "=", value] for name, value in PLATFORM_LABEL.items()]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        duration_ms(route[key])
    assert not any(path.startswith("provisioning/") and "notification" in path for path in GENERATED), (
        "a policies file replaces the whole policy tree: it stays an example outside provisioning/"
    )
