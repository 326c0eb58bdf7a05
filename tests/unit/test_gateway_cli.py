from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gateway.cli import register
from gateway.settings import GatewaySettings


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command keeps "gateway" a sub-command
    register(app)
    return app


def test_settings_come_from_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_GATEWAY_MQTT__HOST", "2001:db8::1")
    monkeypatch.setenv("SMARTCITY_GATEWAY_MQTT__PORT", "8883")
    monkeypatch.setenv("SMARTCITY_GATEWAY_INFLUX__DATABASE", "metro")
    monkeypatch.setenv("SMARTCITY_GATEWAY_BATCH_SIZE", "250")
    monkeypatch.setenv("SMARTCITY_GATEWAY_SHARED_GROUP", "ingest")
    monkeypatch.setenv("SMARTCITY_GATEWAY_LIMITS__MAX_RECORDS", "16")
    settings = GatewaySettings()
    assert (settings.mqtt.host, settings.mqtt.port, settings.influx.database) == ("2001:db8::1", 8883, "metro")
    assert (settings.batch_size, settings.shared_group, settings.limits.max_records) == (250, "ingest", 16)


def test_an_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTCITY_GATEWAY_BATCH_MS", raising=False)
    env_file = tmp_path / "gateway.env"
    env_file.write_text("SMARTCITY_GATEWAY_BATCH_MS=42\nSMARTCITY_GATEWAY_MQTT__CLIENT_ID=gw-7\n")
    settings = GatewaySettings(_env_file=env_file)
    assert (settings.batch_ms, settings.mqtt.client_id) == (42, "gw-7")


def test_bad_settings_exit_2_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_GATEWAY_BATCH_SIZE", "0")
    result = CliRunner().invoke(_app(), ["gateway"])
    assert result.exit_code == 2
    assert "SMARTCITY_GATEWAY_BATCH_SIZE" in result.output
    assert "greater than or equal to 1" in result.output


def test_a_missing_env_file_or_city_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(_app(), ["gateway", "--env-file", str(tmp_path / "nope.env")])
    assert result.exit_code == 2
    assert "nope.env does not exist" in result.output
    monkeypatch.setenv("SMARTCITY_GATEWAY_CITY_FILE", str(tmp_path / "city.json"))
    result = CliRunner().invoke(_app(), ["gateway"])
    assert result.exit_code == 2
    assert "city.json not found" in result.output


def test_an_invalid_city_file_exits_2_with_the_loader_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    city = tmp_path / "city.json"
    city.write_text('{"name": "x"}')
    monkeypatch.setenv("SMARTCITY_GATEWAY_CITY_FILE", str(city))
    monkeypatch.setenv("SMARTCITY_GATEWAY_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("SMARTCITY_GATEWAY_HTTP_PORT", "0")
    result = CliRunner().invoke(_app(), ["gateway"])
    assert result.exit_code == 2
    assert "city.json" in result.output
    assert "problem" in result.output


def test_a_misspelt_variable_exits_2_with_the_real_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_GATEWAY_BATCH_SIZ", "10")
    result = CliRunner().invoke(_app(), ["gateway"])
    assert result.exit_code == 2
    assert "SMARTCITY_GATEWAY_BATCH_SIZ: not a setting (did you mean SMARTCITY_GATEWAY_BATCH_SIZE?)" in result.output
