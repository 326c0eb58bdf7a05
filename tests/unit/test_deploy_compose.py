"""docker-compose.yml without a Docker engine: valid against the Compose Specification (check-jsonschema's
``vendor.compose-spec``), every variable it gives a platform container a real setting of the process that container
runs (and a value that process accepts), no password with a default, every ``${VAR}`` listed in ``.env.example``,
health-gated start order, an IPv6 ULA network, limits on every service; its Prometheus config passes promtool."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from grafana_view.datasources import ENVIRONMENT
from tests.support.deploy_settings import PROCESSES, process_of, settings_class, unknown, variables_set

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
TEXT = COMPOSE_FILE.read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PLATFORM = {name: service for name, service in SERVICES.items() if "build" in service}
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def _strings(node: object) -> list[str]:
    """Every string of the parsed file (keys and values; comments are not interpolated, so they do not count)."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    return [node] if isinstance(node, str) else []


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation of ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` (a required value
    missing from ``env`` becomes a placeholder secret)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        given = env.get(name, "")
        if op == ":?":
            return given or "s3cret-" + "x" * 32
        if op == ":-":
            return given or arg
        return given

    return _REFERENCE.sub(one, value)


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert binary, "check-jsonschema is a dev dependency (pyproject.toml)"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=60)


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    checked = _check("--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_refuses_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        "services:\n  gateway:\n    image: smartcity\n    depends_on:\n      broker:\n        condition: when-ready\n"
        "    deploy: {resources: {limits: {memory: [1]}}}\n",
        encoding="utf-8",
    )
    checked = _check("--builtin-schema", "vendor.compose-spec", str(broken))
    assert checked.returncode == 1, checked.stdout
    assert "when-ready" in checked.stdout


@pytest.mark.parametrize("name", sorted(PLATFORM))
def test_every_variable_is_a_setting_of_the_process_and_a_value_it_takes(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = PLATFORM[name]
    argv = [str(arg) for arg in service["command"]]
    environment: dict[str, str] = service.get("environment", {})
    process = process_of(argv)
    if process is None:  # an init step: it reads its flags only
        assert not environment, name
        return
    names = variables_set(argv, environment)
    assert unknown(process, names) == [], f"{name}: not settings of {PROCESSES[process][0]}"
    for key, value in environment.items():
        if key.endswith("_HTTP_HOST") and value == "":  # every address: each family would pick its own port 0
            assert environment[key.replace("_HOST", "_PORT")] != "0", name
    for key in [key for key in list(os.environ) if key.startswith("SMARTCITY_")]:
        monkeypatch.delenv(key)
    example = _example()
    for key, value in environment.items():
        monkeypatch.setenv(key, interpolate(str(value), example))
    for secret in set(names) - set(environment):
        monkeypatch.setenv(secret, "a-derived-password")
    settings_class(PROCESSES[process][0])()  # raises with the field's name when a value is refused


def test_every_platform_process_is_in_the_stack() -> None:
    run = {process_of([str(arg) for arg in service["command"]]) for service in PLATFORM.values()}
    assert set(PROCESSES) <= run, set(PROCESSES) - run


def test_no_password_or_secret_has_a_default_in_the_file() -> None:
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            if re.search("PASSWORD|SECRET|TOKEN", key) and not key.endswith("_FILE"):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), f"{name}: {key} must be ${{VAR:?...}}"
    assert COMPOSE["secrets"]["smartcity_secret"] == {"environment": "SMARTCITY_SECRET"}


def test_env_example_lists_every_variable_the_file_reads_with_no_secret_filled_in() -> None:
    example = _example()
    used = {match["name"] for text in _strings(COMPOSE) for match in _REFERENCE.finditer(text)} | {"SMARTCITY_SECRET"}
    assert used <= set(example), sorted(used - set(example))
    for key, value in example.items():
        if re.search("PASSWORD|SECRET", key):
            assert value == "", f".env.example must not carry a value for {key}"
    assert "/.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_start_order_waits_for_health_and_every_service_has_limits() -> None:
    for name, service in SERVICES.items():
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= set(limits), name
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in SERVICES, (name, needed)
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[needed], f"{name} waits for {needed}'s health, which has no check"
        long_running = service.get("restart") != "no" and name != "simulator"
        assert not long_running or "healthcheck" in service, f"{name} has no healthcheck"
    assert SERVICES["broker-init"]["restart"] == "no"
    assert SERVICES["mosquitto"]["depends_on"]["broker-init"]["condition"] == "service_completed_successfully"
    assert SERVICES["gateway"]["depends_on"]["influxdb"]["condition"] == "service_healthy"


def test_the_network_is_ipv6_with_a_unique_local_subnet() -> None:
    network = COMPOSE["networks"]["city"]
    assert network["enable_ipv6"] is True
    subnet = ipaddress.ip_network(interpolate(network["ipam"]["config"][0]["subnet"], _example()))
    assert subnet.version == 6
    assert subnet.subnet_of(ipaddress.IPv6Network("fd00::/8"))  # ULA, locally assigned (RFC 4193)
    assert subnet.prefixlen == 64
    assert all(service["networks"] == ["city"] for service in SERVICES.values())


def test_grafana_gets_exactly_the_variables_its_provisioning_reads() -> None:
    grafana = SERVICES["grafana"]["environment"]
    assert {key for key in grafana if key.startswith("SMARTCITY_")} == set(ENVIRONMENT)
    mounts = SERVICES["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/smartcity.yaml").read_text())
    assert f"./deploy/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts


def test_promtool_accepts_the_compose_prometheus_config() -> None:
    checked = subprocess.run(
        ["promtool", "check", "config", str(ROOT / "deploy/compose/prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    targets = {
        target
        for job in yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text())["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    assert targets == {"gateway:9108", "api:8000", "rollup:9110", "quality:9120"}
