"""The broker files ``smartcity deploy broker`` writes for a container run a real Mosquitto 2.0: the gateway's
account (password from ``with-password``'s derivation) connects, an anonymous client and a wrong password are
refused, the compose file's broker healthcheck tells a running broker from a stopped one, and the persistence
directory receives the broker's database at a clean stop."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml  # type: ignore[import-untyped]
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from smartcity.city.credentials import service_password
from smartcity.deploy_cli import app
from smartcity.localservices.mosquitto import MOSQUITTO_BINARY
from smartcity.localservices.process import free_port, tcp_accepts
from tests.support.cities import write_city

SECRET = "fedcba9876543210" * 4
COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose_healthcheck(port: int) -> int:
    """The exit status of docker-compose.yml's broker healthcheck, run here against ``port``."""
    test = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["mosquitto"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL", test
    command = test[1].replace("-h 127.0.0.1 -p 1883", f"-h 127.0.0.1 -p {port}")
    assert command != test[1], "the healthcheck names the broker's address and port"
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, check=False, timeout=30).returncode


def _connect(port: int, username: str | None, password: str | None) -> ReasonCode | str:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    reasons: list[ReasonCode] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: reasons.append(reason)
    client.connect("::1", port)
    deadline = time.monotonic() + 10
    while not reasons and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    return reasons[0] if reasons else "no CONNACK"


@pytest.fixture
def broker(tmp_path: Path) -> tuple[int, Path]:
    (tmp_path / "secret").write_text(SECRET, encoding="utf-8")
    out, data = tmp_path / "broker", tmp_path / "data"
    data.mkdir()
    result = CliRunner().invoke(
        app,
        [
            "broker",
            str(write_city(tmp_path / "city.json")),
            "--secret-file",
            str(tmp_path / "secret"),
            "--out",
            str(out),
            "--data-dir",
            str(data),
            "--hash",
            "sha512",
        ],
    )
    assert result.exit_code == 0, result.output
    port = free_port()
    conf = (out / "mosquitto.conf").read_text(encoding="utf-8").replace("listener 1883", f"listener {port}")
    # Started as root, Mosquitto would switch to the 'mosquitto' user (a container runs it as the platform's UID).
    (out / "mosquitto.conf").write_text(conf + f"user {pwd.getpwuid(os.geteuid()).pw_name}\n", encoding="utf-8")
    return port, out


def test_the_deployed_config_runs_a_broker_that_knows_only_the_citys_accounts(broker: tuple[int, Path]) -> None:
    port, out = broker
    with (out.parent / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen([str(MOSQUITTO_BINARY), "-c", str(out / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while not tcp_accepts("::1", port) and time.monotonic() < deadline:
            assert process.poll() is None, (out.parent / "mosquitto.log").read_text()
            time.sleep(0.05)
        gateway = _connect(port, "gateway", service_password(SECRET.encode(), "gateway"))
        assert not isinstance(gateway, str), gateway
        assert not gateway.is_failure, gateway
        for username, password in ((None, None), ("gateway", "wrong")):
            refused = _connect(port, username, password)
            assert not isinstance(refused, str), refused
            assert refused.is_failure, (username, refused)
        assert _compose_healthcheck(port) == 0, "the compose healthcheck calls a running broker unhealthy"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0
    assert _compose_healthcheck(port) != 0, "the compose healthcheck calls a stopped broker healthy"
    assert (out.parent / "data" / "mosquitto.db").exists()
