"""``smartcity grafana build``: the committed files are what the generator writes; every panel has what a broken
one would lack (a datasource, a query, a unit, a title, a description); every variable a query names exists;
the maps are the API's; the Prometheus names are the components'; the package keeps to the core."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml  # type: ignore[import-untyped]
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard
from typer.testing import CliRunner

from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from grafana_view import maps
from grafana_view.build import files
from grafana_view.cli import demo_city, register
from grafana_view.datasources import INFLUX, PROMETHEUS, SCRAPE_TARGETS, dashboards_file, datasources_file
from grafana_view.influxql import InfluxQLQuery
from grafana_view.queries import WHO_PM25_24H
from grafana_view.units import GRAFANA_UNITS
from services.api.catalogue import CityIndex
from services.api.deps import Caller
from services.api.indicators.definitions import WHO_PM25_24H as API_WHO_PM25_24H
from services.api.keys import Role
from services.api.observability import ApiMetrics
from services.api.routes.catalogue import _feature, district_item
from services.api.settings import ApiSettings
from services.quality.settings import QualitySettings
from services.rollup.metrics import RollupMetrics
from services.rollup.settings import RollupSettings
from smartcity.contract.metrics import METRICS
from tests.support.grafana_expand import referenced

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "deploy" / "grafana"
CITY = demo_city()
GENERATED = dict(files(CITY))
BOARDS = {path: json.loads(text) for path, text in GENERATED.items() if path.startswith("dashboards/")}
PANELS = [(board, panel) for board in BOARDS.values() for panel in board["panels"]]


def test_the_committed_files_are_what_the_generator_writes() -> None:
    stale = [path for path, text in GENERATED.items() if (OUT / path).read_text(encoding="utf-8") != text]
    assert stale == [], "run `smartcity grafana build --out deploy/grafana/` and commit the result"
    alerting = {"provisioning/alerting/smartcity-rules.yaml", "examples/alerting/smartcity-notifications.yaml"}
    assert alerting <= set(GENERATED), "the alert rules and the notification example are generated too"
    on_disk = {str(p.relative_to(OUT)) for p in OUT.rglob("*") if p.is_file()}
    assert on_disk == {path for path in GENERATED if not path.startswith("../")}, "files nobody generates"


def _smartcity() -> typer.Typer:
    root = typer.Typer()
    root.command("up")(lambda: None)
    register(root)
    return root


def test_the_command_writes_the_same_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(_smartcity(), ["grafana", "build", "--out", str(tmp_path / "grafana")])
    assert result.exit_code == 0, result.output
    for path, text in GENERATED.items():
        assert (tmp_path / "grafana" / path).read_text(encoding="utf-8") == text, path


def test_a_bad_city_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "city.json"
    bad.write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(_smartcity(), ["grafana", "build", "--out", str(tmp_path), "--city", str(bad)])
    assert result.exit_code == 2
    assert "error:" in result.output


@pytest.mark.parametrize(("board", "panel"), PANELS, ids=[f"{b['uid']}: {p['title']}" for b, p in PANELS])
def test_every_panel_has_a_datasource_queries_a_unit_and_words(board: dict[str, Any], panel: dict[str, Any]) -> None:
    assert panel["title"]
    assert len(panel["description"]) > 20
    assert panel["datasource"]["uid"] in (INFLUX.uid, PROMETHEUS.uid)
    assert panel["fieldConfig"]["defaults"]["unit"]
    assert panel["targets"]
    names = {variable["name"] for variable in board["templating"].get("list", [])}
    for target in panel["targets"]:
        assert target["datasource"] == panel["datasource"]
        text = target.get("query") or target.get("expr")
        assert text
        assert text.strip() == text
        assert set(referenced(text)) <= names | {"__rate_interval"}, text
        if panel["datasource"]["uid"] == INFLUX.uid:
            assert target["rawQuery"] is True
            assert target["resultFormat"] in ("time_series", "table")
        else:
            assert "$__rate_interval" in text or "rate(" not in text


def test_panels_are_numbered_and_tile_the_grid() -> None:
    for board in BOARDS.values():
        assert [panel["id"] for panel in board["panels"]] == list(range(1, len(board["panels"]) + 1))
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, (board["uid"], panel["title"])


def test_variables_come_from_show_tag_values_of_registry_tags() -> None:
    for board in BOARDS.values():
        seen: set[str] = set()
        for variable in board["templating"].get("list", []):
            match = re.fullmatch(
                r'SHOW TAG VALUES FROM "device_vitals" WITH KEY = "(\w+)"( WHERE .*)?', variable["query"]
            )
            assert match is not None, variable["query"]
            assert match.group(1) in ("district", "facility_kind", "facility"), variable["query"]
            assert set(referenced(variable["query"])) <= seen, "a variable depends only on earlier ones"
            assert variable["datasource"]["uid"] == INFLUX.uid
            assert variable.get("allValue") is None, "no custom all value: Grafana sends the regex of every value"
            seen.add(variable["name"])


def test_dashboards_read_back_with_their_influxql_targets() -> None:
    parsed = [
        target
        for board in BOARDS.values()
        for panel in Dashboard.from_json(board).panels or []
        for target in getattr(panel, "targets", None) or []
        if isinstance(target, InfluxQLQuery)
    ]
    written = [t for _, p in PANELS for t in p["targets"] if t["datasource"]["type"] == "influxdb"]
    assert len(parsed) == len(written) > 30
    sample = next(t for _, p in PANELS for t in p["targets"] if t["datasource"]["type"] == "influxdb")
    assert json.loads(json.dumps(InfluxQLQuery.from_json(sample), cls=JSONEncoder)) == sample


def test_the_district_outlines_are_the_apis_geojson() -> None:
    index = CityIndex(CITY)
    viewer = Caller(Role.PUBLIC)
    api = [_feature(district_item(index, district, viewer)) for district in CITY.districts]
    assert maps.district_outlines(CITY) == {"type": "FeatureCollection", "features": api}


def test_the_gazetteers_key_every_district_and_facility() -> None:
    centres = maps.district_centres(CITY)["features"]
    assert [f["properties"]["id"] for f in centres] == [d.id for d in CITY.districts]
    points = maps.facility_points(CITY)["features"]
    assert {f["properties"]["id"] for f in points} == {f.id for f in CITY.facilities}
    assert all(f["geometry"]["type"] == "Point" for f in centres + points)


def test_every_registry_unit_has_a_grafana_unit() -> None:
    assert {spec.unit for spec in METRICS.values()} <= set(GRAFANA_UNITS)


def test_constants_agree_with_the_components() -> None:
    assert WHO_PM25_24H == API_WHO_PM25_24H
    ports = {
        "smartcity-gateway": GatewaySettings.model_fields["http_port"].default,
        "smartcity-api": ApiSettings.model_fields["port"].default,
        "smartcity-rollup": RollupSettings.model_fields["http_port"].default,
        "smartcity-quality": QualitySettings.model_fields["http_port"].default,
    }
    assert {job: int(target.rsplit(":", 1)[1]) for job, target in SCRAPE_TARGETS.items()} == ports


def _exposed_names() -> set[str]:
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    for registry in (GatewayMetrics().registry, ApiMetrics().registry, RollupMetrics().registry):
        for family in registry.collect():
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def test_every_promql_metric_is_one_the_components_export() -> None:
    used = {
        name
        for _, panel in PANELS
        for target in panel["targets"]
        if "expr" in target
        for name in re.findall(r"\bsmartcity_\w+", target["expr"])
    }
    assert used, "the operations dashboard charts Prometheus metrics"
    assert used <= _exposed_names(), used - _exposed_names()


def test_provisioning_files_are_yaml_of_the_documented_shape() -> None:
    datasources = yaml.safe_load(GENERATED["provisioning/datasources/smartcity.yaml"])
    assert datasources == datasources_file()
    assert {d["uid"] for d in datasources["datasources"]} == {INFLUX.uid, PROMETHEUS.uid}
    influx = datasources["datasources"][0]
    for secret in (influx["url"], influx["user"], influx["secureJsonData"]["password"], influx["jsonData"]["dbName"]):
        assert re.fullmatch(r"\$\{SMARTCITY_GRAFANA_[A-Z_]+\}", secret), "credentials come from the environment"
    provider = yaml.safe_load(GENERATED["provisioning/dashboards/smartcity.yaml"])
    assert provider == dashboards_file("Smart city", "smartcity", "/etc/grafana/dashboards/smartcity")
    scrape = yaml.safe_load(GENERATED["../prometheus/prometheus.yml"])
    assert [job["job_name"] for job in scrape["scrape_configs"]] == list(SCRAPE_TARGETS)


def test_the_package_imports_the_core_only_and_no_component_imports_it() -> None:
    allowed = {"smartcity", "grafana_view", "grafana_foundation_sdk", "typer", "__future__"}
    allowed |= {"grafana_client", "requests", "pydantic", "pydantic_settings"}  # push: the HTTP API, its settings
    for path in (ROOT / "grafana_view").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                else []
            )
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in _stdlib(), (path.name, name)
    for package in ("smartcity", "devices", "gateway", "services"):
        for path in (ROOT / package).rglob("*.py"):
            assert "grafana_view" not in path.read_text(encoding="utf-8"), path


def _stdlib() -> frozenset[str]:
    import sys

    return frozenset(sys.stdlib_module_names)
