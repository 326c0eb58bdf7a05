"""``smartcity grafana push`` against a local stand-in of Grafana's HTTP API (tests/support/grafana_standin.py;
no Grafana server can run here): the calls and payloads Grafana documents, everything created on the first push,
nothing written on the second, only what changed on a later one, and a clear exit code for what stops it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml  # type: ignore[import-untyped]
from typer.testing import CliRunner, Result

from grafana_view.cli import register
from tests.support.grafana_standin import GrafanaStandin, NotGrafana

TOKEN = "glsa_standin_token"
FOLDER_UID = "smartcity-demo-city"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
ENV = {
    "SMARTCITY_GRAFANA_INFLUX_URL": "http://influxdb:8086",
    "SMARTCITY_GRAFANA_INFLUX_DATABASE": "city",
    "SMARTCITY_GRAFANA_INFLUX_USER": "grafana",
    "SMARTCITY_GRAFANA_INFLUX_PASSWORD": "s3cret",
    "SMARTCITY_GRAFANA_PROMETHEUS_URL": "http://prometheus:9090",
}


def _smartcity() -> typer.Typer:
    root = typer.Typer()
    root.command("up")(lambda: None)
    register(root)
    return root


def push(url: str, *args: str, token: str | None = TOKEN) -> Result:
    options = ["grafana", "push", "--url", url, *(["--token", token] if token else []), *args]
    return CliRunner().invoke(_smartcity(), options, env=ENV)


@pytest.fixture
def grafana() -> Iterator[GrafanaStandin]:
    with GrafanaStandin(token=TOKEN) as standin:
        yield standin


def _bodies(standin: GrafanaStandin, method: str, path: str) -> list[Any]:
    return [request.body for request in standin.requests if (request.method, request.path) == (method, path)]


def test_the_first_push_creates_everything_with_grafanas_payloads(grafana: GrafanaStandin) -> None:
    result = push(grafana.url)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("12 created, 0 updated, 1 unchanged, 0 deleted")

    influx, prometheus = _bodies(grafana, "POST", "/api/datasources")
    assert influx["url"] == "http://influxdb:8086"
    assert influx["user"] == "grafana"
    assert influx["jsonData"]["dbName"] == "city"
    assert influx["secureJsonData"] == {"password": "s3cret"}
    assert prometheus["url"] == "http://prometheus:9090"
    assert "secureJsonData" not in prometheus
    assert "editable" not in influx, "a provisioning-file key the HTTP API does not take"
    assert grafana.state.datasources["smartcity-influxdb"]["secureJsonFields"] == {"password": True}

    assert _bodies(grafana, "POST", "/api/folders") == [{"title": "Smart city: Demo City", "uid": FOLDER_UID}]
    saved = _bodies(grafana, "POST", "/api/dashboards/db")
    committed_boards = sorted(path.stem for path in (DEPLOY / "dashboards").iterdir())
    assert sorted(body["dashboard"]["uid"] for body in saved) == committed_boards
    for body in saved:
        assert (body["folderUid"], body["overwrite"], body["message"]) == (FOLDER_UID, True, "smartcity grafana push")
        committed = json.loads((DEPLOY / "dashboards" / f"{body['dashboard']['uid']}.json").read_text())
        assert body["dashboard"] == committed, "the dashboards pushed are the ones committed"
    assert {meta["meta"]["folderUid"] for meta in grafana.state.dashboards.values()} == {FOLDER_UID}

    committed_rules = yaml.safe_load((DEPLOY / "provisioning/alerting/smartcity-rules.yaml").read_text())
    (group,) = committed_rules["groups"]
    posted = _bodies(grafana, "POST", "/api/v1/provisioning/alert-rules")
    assert [rule["uid"] for rule in posted] == [rule["uid"] for rule in group["rules"]]
    for sent, written in zip(posted, group["rules"], strict=True):
        assert (sent["folderUID"], sent["ruleGroup"], sent["orgID"]) == (FOLDER_UID, "smartcity", 1)
        assert sent["data"] == written["data"]
        assert sent["annotations"]["__dashboardUid__"] == written["dashboardUid"]
    assert grafana.alerting.intervals == {(FOLDER_UID, "smartcity"): 60}
    assert all(request.headers["authorization"] == f"Bearer {TOKEN}" for request in grafana.writes)


def test_a_second_push_writes_nothing(grafana: GrafanaStandin) -> None:
    assert push(grafana.url).exit_code == 0
    writes = len(grafana.writes)
    again = push(grafana.url)
    assert again.exit_code == 0, again.output
    assert len(grafana.writes) == writes, [(r.method, r.path) for r in grafana.writes[writes:]]
    assert again.output.splitlines()[-1].startswith("0 created, 0 updated, 13 unchanged, 0 deleted")
    assert all(line.startswith("unchanged") for line in again.output.splitlines()[:-1])


def test_only_what_changed_in_grafana_is_written_back(grafana: GrafanaStandin) -> None:
    assert push(grafana.url).exit_code == 0
    state, rules = grafana.state, grafana.alerting
    state.datasources["smartcity-prometheus"]["url"] = "http://elsewhere:9090"
    state.folders[FOLDER_UID]["title"] = "Renamed by hand"
    state.dashboards["smartcity-operations"]["dashboard"]["title"] = "Edited by hand"
    rules.rules["smartcity-dead-letters"]["for"] = "1h"
    stale = rules.rules["smartcity-devices-offline"] | {"uid": "smartcity-old-rule", "title": "An old rule"}
    rules.rules["smartcity-old-rule"] = stale
    rules.intervals[FOLDER_UID, "smartcity"] = 300
    before = len(grafana.writes)

    result = push(grafana.url)
    assert result.exit_code == 0, result.output
    written = [(request.method, request.path) for request in grafana.writes[before:]]
    assert written == [
        ("PUT", "/api/datasources/uid/smartcity-prometheus"),
        ("PUT", f"/api/folders/{FOLDER_UID}"),
        ("POST", "/api/dashboards/db"),
        ("PUT", "/api/v1/provisioning/alert-rules/smartcity-dead-letters"),
        ("DELETE", "/api/v1/provisioning/alert-rules/smartcity-old-rule"),
        ("PUT", f"/api/v1/provisioning/folder/{FOLDER_UID}/rule-groups/smartcity"),
    ]
    assert grafana.writes[before + 2].body["dashboard"]["uid"] == "smartcity-operations"
    assert grafana.writes[before + 1].body == {"title": "Smart city: Demo City", "version": 1}
    assert state.datasources["smartcity-prometheus"]["url"] == "http://prometheus:9090"
    assert rules.rules["smartcity-dead-letters"]["for"] == "5m"
    assert "smartcity-old-rule" not in rules.rules
    assert rules.intervals[FOLDER_UID, "smartcity"] == 60
    assert "1 deleted" in result.output.splitlines()[-1]
    settled = len(grafana.writes)
    assert push(grafana.url).exit_code == 0
    assert len(grafana.writes) == settled


@pytest.mark.parametrize("token", ["not-the-token", None], ids=["wrong token", "no token"])
def test_a_bad_token_exits_4_and_writes_nothing(grafana: GrafanaStandin, token: str | None) -> None:
    result = push(grafana.url, token=token)
    assert result.exit_code == 4, result.output
    assert "refused the token (401)" in result.output
    assert grafana.writes == []


def test_a_token_without_the_permission_exits_4(grafana: GrafanaStandin) -> None:
    grafana.forbidden.add("/api/datasources")
    result = push(grafana.url)
    assert result.exit_code == 4, result.output
    assert "403" in result.output
    assert "Admin role" in result.output
    assert grafana.alerting.rules == {}


def test_a_grafana_too_old_for_the_dashboards_exits_5_before_anything_else() -> None:
    with GrafanaStandin(token=TOKEN, version="10.4.3") as old:
        result = push(old.url)
        assert result.exit_code == 5, result.output
        assert "Grafana 10.4.3 is too old" in result.output
        assert "Grafana 11 or later" in result.output
        assert [request.path for request in old.requests] == ["/api/health"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_nothing_listening_exits_3() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = push(url)
    assert result.exit_code == 3, result.output
    assert f"cannot reach Grafana at {url}" in result.output


def test_a_server_that_is_not_grafana_exits_3() -> None:
    with NotGrafana() as other:
        result = push(other.url)
    assert result.exit_code == 3, result.output
    assert "not a Grafana" in result.output


@pytest.mark.parametrize("url", ["localhost:3000", "ftp://grafana.example", "http://"])
def test_a_malformed_url_exits_2(url: str) -> None:
    result = push(url)
    assert result.exit_code == 2, result.output
    assert "SMARTCITY_GRAFANA_URL" in result.output


def test_what_grafana_provisions_from_files_is_not_overwritten(grafana: GrafanaStandin) -> None:
    assert push(grafana.url).exit_code == 0
    grafana.state.dashboards["smartcity-district"]["meta"]["provisioned"] = True
    grafana.state.dashboards["smartcity-district"]["dashboard"]["title"] = "From a file"
    before = len(grafana.writes)
    result = push(grafana.url)
    assert result.exit_code == 6, result.output
    assert "dashboard smartcity-district is provisioned from files" in result.output
    assert len(grafana.writes) == before
    grafana.state.datasources["smartcity-influxdb"] |= {"readOnly": True, "url": "http://other:8086"}
    result = push(grafana.url)
    assert result.exit_code == 6, result.output
    assert "datasource smartcity-influxdb is provisioned from files" in result.output


def test_another_citys_dashboards_are_not_taken_over(grafana: GrafanaStandin) -> None:
    assert push(grafana.url).exit_code == 0
    grafana.state.folders["smartcity-other-town"] = {"uid": "smartcity-other-town", "title": "Other", "version": 1}
    grafana.state.dashboards["smartcity-city-overview"]["meta"]["folderUid"] = "smartcity-other-town"
    result = push(grafana.url)
    assert result.exit_code == 6, result.output
    assert "another city's" in result.output
    assert "--org-id" in result.output


def test_the_organisation_is_sent_with_every_call(grafana: GrafanaStandin) -> None:
    result = push(grafana.url, "--org-id", "3")
    assert result.exit_code == 0, result.output
    assert {request.headers.get("x-grafana-org-id") for request in grafana.requests} == {"3"}


def test_grafana_refusing_a_payload_exits_6_with_its_message(grafana: GrafanaStandin) -> None:
    grafana.state.datasources["someone-elses"] = {"uid": "someone-elses", "name": "Smart city InfluxDB"}
    result = push(grafana.url)
    assert result.exit_code == 6, result.output
    assert "409 data source with the same name already exists" in result.output
