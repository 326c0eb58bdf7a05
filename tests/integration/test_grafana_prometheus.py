"""Every PromQL expression of the committed dashboards and alert rules, run by a real Prometheus (Debian's
``prometheus``, on a free loopback port with a data dir of its own) that scrapes a running gateway, roll-up worker
and planning API every half second while readings, a refused payload and API requests flow: each panel query
answers a non-empty vector (and matrix) carrying the labels its legend names, with finite values. Then the spool
alert: quiet while InfluxDB takes the gateway's writes, firing for that gateway's instance once InfluxDB is gone
and the spool grows (one run, so Prometheus's start and first target discovery, about 5 s, are paid once).
``promtool`` checks the committed scrape config and the spool rule in Prometheus's own rule format.

``$__rate_interval`` is expanded as Grafana does: ``max($__interval + scrape interval, 4 x scrape interval)``
(grafana/grafana#77234), with the 500 ms scrape interval of this Prometheus and ``$__interval`` the same: ``2000ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml  # type: ignore[import-untyped]

from services.rollup.service import run as run_rollup
from services.rollup.settings import RollupSettings
from smartcity.influx.client import InfluxClient
from smartcity.localservices import InfluxdProcess
from smartcity.localservices.gateway import GatewayProcess
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.api_server import serving
from tests.support.api_support import api_settings
from tests.support.gateway_clients import connect, eventually
from tests.support.prometheus_server import SCRAPE_INTERVAL_MS, PrometheusProcess
from tests.support.rollup_support import lines_of, pm25_points, readings, write_city

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INTERVAL_MS = SCRAPE_INTERVAL_MS
"""``$__interval`` of the queries here: the scrape interval (the smallest Grafana picks for this datasource)."""
RATE_INTERVAL = f"{max(INTERVAL_MS + SCRAPE_INTERVAL_MS, 4 * SCRAPE_INTERVAL_MS)}ms"
SCRAPE_S = SCRAPE_INTERVAL_MS / 1000
SPOOL_RULE = "smartcity-gateway-spool-growing"


def _prometheus_targets() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(dashboard title, panel title, target) of every Prometheus query of the committed dashboards."""
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") == "prometheus":
                    yield board["title"], panel["title"], target


def _alert_rules() -> dict[str, dict[str, Any]]:
    text = (DEPLOY / "grafana" / "provisioning" / "alerting" / "smartcity-rules.yaml").read_text(encoding="utf-8")
    return {rule["uid"]: rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]}


TARGETS = list(_prometheus_targets())
PROMETHEUS_RULES = {
    uid: rule for uid, rule in _alert_rules().items() if rule["data"][0]["datasourceUid"] == "smartcity-prometheus"
}


def expand(expr: str) -> str:
    expanded = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", f"{INTERVAL_MS}ms")
    assert "$" not in expanded, f"a Grafana variable this test does not expand: {expr}"
    return expanded


def legend_labels(legend: str) -> set[str]:
    """The labels a legend format such as ``{{kind}}`` or ``{{ $labels.instance }}`` reads."""
    return set(re.findall(r"\{\{\s*(?:\$labels\.)?(\w+)\s*\}\}", legend))


def spool_rule_file(path: Path) -> Path:
    """The Grafana spool rule's condition as a Prometheus alerting rule (its query is the whole condition)."""
    rule = PROMETHEUS_RULES[SPOOL_RULE]
    group = {
        "name": "smartcity",
        "rules": [
            {
                "alert": "SmartcityGatewaySpoolGrowing",
                "expr": rule["data"][0]["model"]["expr"],
                "for": rule["for"],
                "labels": rule["labels"],
                "annotations": {"summary": rule["title"]},
            }
        ],
    }
    path.write_text(yaml.safe_dump({"groups": [group]}), encoding="utf-8")
    return path


def _gateway_env(tmp_path: Path, mqtt_settings: MqttSettings, influx: InfluxSettings, city: Path) -> dict[str, str]:
    return {
        "SMARTCITY_GATEWAY_MQTT__HOST": mqtt_settings.host,
        "SMARTCITY_GATEWAY_MQTT__PORT": str(mqtt_settings.port),
        "SMARTCITY_GATEWAY_MQTT__CLIENT_ID": f"gw-{mqtt_settings.topic_root}",
        "SMARTCITY_GATEWAY_MQTT__TOPIC_ROOT": mqtt_settings.topic_root,
        "SMARTCITY_GATEWAY_INFLUX__URL": influx.url,
        "SMARTCITY_GATEWAY_INFLUX__DATABASE": influx.database,
        "SMARTCITY_GATEWAY_CITY_FILE": str(city),
        "SMARTCITY_GATEWAY_WRITE_RETRY_S": "0.2",
        "SMARTCITY_GATEWAY_CLOCK_MAX_OFFSET_S": "0",
    }


@contextlib.asynccontextmanager
async def _gateway(workdir: Path, env: dict[str, str]) -> AsyncIterator[GatewayProcess]:
    gateway = GatewayProcess(workdir, env)
    await asyncio.to_thread(gateway.start)
    try:
        yield gateway
    finally:
        await asyncio.to_thread(gateway.stop)


@contextlib.asynccontextmanager
async def _prometheus(
    workdir: Path, jobs: dict[str, list[str]], rules: tuple[Path, ...] = ()
) -> AsyncIterator[PrometheusProcess]:
    prometheus = PrometheusProcess(workdir, jobs, rule_files=rules)
    await asyncio.to_thread(prometheus.start)
    try:
        yield prometheus
    finally:
        await asyncio.to_thread(prometheus.stop)


@contextlib.asynccontextmanager
async def _every(period_s: float, action: Callable[[int], Any]) -> AsyncIterator[None]:
    """Run ``action(n)`` every ``period_s`` in the background (sync or async) while the block runs."""

    async def loop() -> None:
        for n in range(1_000_000):
            result = action(n)
            if asyncio.iscoroutine(result):
                await result
            await asyncio.sleep(period_s)

    task = asyncio.create_task(loop(), name="traffic")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _publisher(client: mqtt.Client, root: str, *, refused: bool = True) -> Callable[[int], None]:
    def publish(n: int) -> None:
        now = int(time.time() * 1000)
        for device in ("aq-n1", "aq-n2"):
            payload = {"dev": device, "seq": n, "ts": now, "m": {"pm25": 7.5}}
            client.publish(f"{root}/v1/dev/{device}/reading", json.dumps(payload), qos=1)
        if refused:
            client.publish(f"{root}/v1/dev/aq-n1/reading", b"not json", qos=1)

    return publish


async def _all_up(prometheus: PrometheusProcess, count: int) -> None:
    async def check() -> bool:
        health = await asyncio.to_thread(prometheus.targets_up)
        return len(health) == count and all(state == "up" for state in health.values())

    await eventually(check, within_s=20, what=f"{count} scrape targets up")


async def test_every_panel_query_answers_series_and_the_spool_alert_fires_only_once_influxdb_is_gone(
    tmp_path: Path, mqtt_settings: MqttSettings, influxd_factory: Callable[..., InfluxdProcess]
) -> None:
    assert len(TARGETS) >= 20, [title for _, title, _ in TARGETS]
    influxd = influxd_factory()  # its own server: the test stops it
    influx_settings = InfluxSettings(url=influxd.url, database="platform")
    city = write_city(tmp_path / "city.json")
    hour_start = int(time.time() * 1000) // 3_600_000 * 3_600_000 - 2 * 3_600_000
    async with InfluxClient(influx_settings) as influx:  # a closed hour for the roll-up worker to write
        await influx.create_database()
        await influx.write(lines_of(readings({"aq-n1": pm25_points(hour_start)["aq-n1"][:5]}, [])))
    rollup = RollupSettings(
        influx=influx_settings, city_file=city, state_dir=tmp_path / "rollup", http_port=0, start_lookback_h=3
    )
    api = api_settings(tmp_path, influx_settings, city_file=city)
    spool_rule = expand(PROMETHEUS_RULES[SPOOL_RULE]["data"][0]["model"]["expr"])
    stop_rollup = asyncio.Event()
    rollup_task = asyncio.create_task(run_rollup(rollup, stop=stop_rollup), name="rollup")
    client, _ = connect(mqtt_settings)
    try:
        async with (
            _gateway(tmp_path / "gateway", _gateway_env(tmp_path, mqtt_settings, influx_settings, city)) as gateway,
            serving(api) as served,
            httpx.AsyncClient(base_url=served.base_url, trust_env=False) as http,
        ):
            port_file = rollup.state_dir / "http.port"

            async def rollup_serves() -> bool:
                return port_file.exists()

            await eventually(rollup_serves, what="the roll-up worker's port file")
            instance = gateway.http_url.removeprefix("http://")
            jobs = {
                "smartcity-gateway": [instance],
                "smartcity-api": [f"127.0.0.1:{served.port}"],
                "smartcity-rollup": [f"127.0.0.1:{port_file.read_text().strip()}"],
            }
            async with (
                _prometheus(tmp_path / "prometheus", jobs) as prometheus,
                _every(0.1, _publisher(client, mqtt_settings.topic_root)),
                _every(0.1, lambda _n: http.get("/v1/districts")),
            ):
                await _all_up(prometheus, 3)
                await asyncio.sleep(5 * SCRAPE_S)  # a whole $__rate_interval of scrapes with traffic
                end = time.time()
                checked = []
                for board, panel, target in TARGETS:
                    where = f"{board} / {panel}: {target['expr']}"
                    expr = expand(target["expr"])
                    instant = await asyncio.to_thread(prometheus.query, expr)
                    assert instant["resultType"] == "vector", where
                    assert instant["result"], f"{where}: no series"
                    for series in instant["result"]:
                        assert legend_labels(target.get("legendFormat", "")) <= set(series["metric"]), (where, series)
                        assert math.isfinite(float(series["value"][1])), (where, series)
                    ranged = await asyncio.to_thread(prometheus.query_range, expr, end - 4 * SCRAPE_S, end, SCRAPE_S)
                    assert ranged["resultType"] == "matrix", where
                    assert ranged["result"], f"{where}: no series over the last {RATE_INTERVAL}"
                    assert all(series["values"] for series in ranged["result"]), where
                    checked.append(expr)
                quiet = await asyncio.to_thread(prometheus.query, spool_rule)
                assert quiet == {"resultType": "vector", "result": []}, "the spool alert fired with InfluxDB up"

                await asyncio.to_thread(influxd.stop)  # the gateway spools what it cannot write

                async def firing() -> bool:
                    return bool((await asyncio.to_thread(prometheus.query, spool_rule))["result"])

                await eventually(firing, within_s=20, what="the spool alert firing")
                fired = (await asyncio.to_thread(prometheus.query, spool_rule))["result"]
        assert len(checked) == len(TARGETS)
        assert [series["metric"] for series in fired] == [{"instance": instance}]
        assert float(fired[0]["value"][1]) > 0
        summary = PROMETHEUS_RULES[SPOOL_RULE]["annotations"]["summary"]
        assert legend_labels(summary) <= set(fired[0]["metric"])
    finally:
        client.loop_stop()
        client.disconnect()
        stop_rollup.set()
        await asyncio.wait_for(rollup_task, 10)


def test_promtool_accepts_the_committed_scrape_config() -> None:
    checked = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@pytest.mark.parametrize("uid", sorted(PROMETHEUS_RULES))
def test_promtool_accepts_the_prometheus_alert_as_a_rule(tmp_path: Path, uid: str) -> None:
    assert uid == SPOOL_RULE  # the one Prometheus rule; a new one needs its own fire/quiet proof above
    checked = subprocess.run(
        ["promtool", "check", "rules", str(spool_rule_file(tmp_path / "rules.yml"))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rules found" in checked.stdout
