"""``smartcity deploy broker`` and ``with-password``: the files and the environment they produce, and what bad
input gets (a message and exit code 1, never a traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartcity.brokerconfig import DELIVERY_SETTINGS
from smartcity.city.credentials import service_password
from smartcity.deploy_cli import app
from tests.support.cities import write_city

runner = CliRunner()
SECRET = "0123456789abcdef" * 4


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    return path


def test_broker_writes_accounts_acl_and_a_config_that_uses_them(tmp_path: Path, secret_file: Path) -> None:
    city = write_city(tmp_path / "city.json")
    out = tmp_path / "broker"
    result = runner.invoke(
        app,
        [
            "broker",
            str(city),
            "--secret-file",
            str(secret_file),
            "--out",
            str(out),
            "--data-dir",
            "/data",
            "--config-dir",
            "/etc/broker",
            "--hash",
            "sha512",
        ],
    )
    assert result.exit_code == 0, result.output
    conf = (out / "mosquitto.conf").read_text(encoding="utf-8").splitlines()
    assert "listener 1883" in conf
    assert "allow_anonymous false" in conf
    assert "password_file /etc/broker/passwd" in conf
    assert "acl_file /etc/broker/acl" in conf
    assert "persistence_location /data/" in conf
    assert set(DELIVERY_SETTINGS) <= set(conf)
    accounts = {line.split(":", 1)[0] for line in (out / "passwd").read_text(encoding="utf-8").splitlines()}
    assert {"gateway", "api", "netserver"} <= accounts
    assert (out / "acl").stat().st_mode & 0o077 == 0
    assert not (tmp_path / "broker" / "secret").exists()  # the secret stays where the deployment keeps it


@pytest.mark.parametrize(
    ("secret", "message"),
    [(None, "does not exist"), ("short", "at least")],
)
def test_broker_refuses_a_missing_or_weak_secret(tmp_path: Path, secret: str | None, message: str) -> None:
    path = tmp_path / "secret"
    if secret is not None:
        path.write_text(secret, encoding="utf-8")
    city = write_city(tmp_path / "city.json")
    result = runner.invoke(
        app, ["broker", str(city), "--secret-file", str(path), "--out", str(tmp_path / "o"), "--data-dir", "/d"]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "o").exists()


def test_broker_refuses_a_missing_city(tmp_path: Path, secret_file: Path) -> None:
    result = runner.invoke(
        app,
        [
            "broker",
            str(tmp_path / "none.json"),
            "--secret-file",
            str(secret_file),
            "--out",
            str(tmp_path / "o"),
            "--data-dir",
            "/d",
        ],
    )
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_with_password_runs_the_command_with_the_derived_password(secret_file: Path) -> None:
    variable = "SMARTCITY_GATEWAY_MQTT__PASSWORD"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartcity.cli",
            "deploy",
            "with-password",
            "gateway",
            variable,
            "--secret-file",
            str(secret_file),
            "--",
            sys.executable,
            "-c",
            f"import os; print(os.environ['{variable}'])",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == service_password(SECRET.encode(), "gateway")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["root", "X_PASSWORD", "--", "true"], "unknown service account"),
        (["gateway", "x-password", "--", "true"], "not an environment variable name"),
        (["gateway", "X_PASSWORD"], "no command given"),
        (["gateway", "X_PASSWORD", "--", "/nonexistent/binary"], "cannot run"),
    ],
)
def test_with_password_refuses_bad_input(secret_file: Path, args: list[str], message: str) -> None:
    account, variable, *rest = args
    result = runner.invoke(app, ["with-password", account, variable, "--secret-file", str(secret_file), *rest])
    assert result.exit_code == 1
    assert message in result.output


def test_with_password_refuses_a_missing_secret(tmp_path: Path) -> None:
    result = runner.invoke(app, ["with-password", "api", "X", "--secret-file", str(tmp_path / "none"), "--", "true"])
    assert result.exit_code == 1
    assert "does not exist" in result.output
