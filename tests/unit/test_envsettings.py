from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.envsettings import SettingsError, load_settings, setting_names, unknown_variables
from smartcity.logs import LogLevel


class _Block(BaseModel):
    host: str = "::1"
    port: int = Field(default=1883, ge=1)


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTCITY_TEST_", env_nested_delimiter="__", extra="forbid")

    block: _Block = Field(default_factory=_Block)
    batch_size: int = Field(default=10, ge=1)
    log_level: LogLevel = "INFO"


def test_setting_names_cover_nested_blocks() -> None:
    assert setting_names(_Settings) == {
        "SMARTCITY_TEST_BLOCK",
        "SMARTCITY_TEST_BLOCK__HOST",
        "SMARTCITY_TEST_BLOCK__PORT",
        "SMARTCITY_TEST_BATCH_SIZE",
        "SMARTCITY_TEST_LOG_LEVEL",
    }


def test_an_unknown_prefixed_variable_is_refused_with_the_closest_name() -> None:
    environ = {"SMARTCITY_TEST_BATCH_SIZ": "5", "SMARTCITY_OTHER_X": "1", "PATH": "/bin"}
    assert unknown_variables(_Settings, environ) == [
        "  SMARTCITY_TEST_BATCH_SIZ: not a setting (did you mean SMARTCITY_TEST_BATCH_SIZE?)"
    ]
    with pytest.raises(SettingsError, match="SMARTCITY_TEST_BATCH_SIZ: not a setting"):
        load_settings(_Settings, environ=environ)


def test_every_bad_value_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_TEST_BATCH_SIZE", "0")
    monkeypatch.setenv("SMARTCITY_TEST_BLOCK__PORT", "nope")
    monkeypatch.setenv("SMARTCITY_TEST_LOG_LEVEL", "loud")
    with pytest.raises(SettingsError) as raised:
        load_settings(_Settings)
    message = str(raised.value)
    assert message.startswith("invalid settings (SMARTCITY_TEST_*):")
    assert "SMARTCITY_TEST_BATCH_SIZE: Input should be greater than or equal to 1 (got '0')" in message
    assert "SMARTCITY_TEST_BLOCK__PORT: Input should be a valid integer" in message
    assert "SMARTCITY_TEST_LOG_LEVEL: Input should be 'DEBUG', 'INFO'" in message


def test_log_levels_accept_lower_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCITY_TEST_LOG_LEVEL", "debug")
    assert load_settings(_Settings).log_level == "DEBUG"


def test_env_files_are_checked_too(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(_Settings, env_file=tmp_path / "missing.env", environ={})
    env_file = tmp_path / "test.env"
    env_file.write_text("SMARTCITY_TEST_BATCH_SIZE=7\nSMARTCITY_TEST_BLOKC__HOST=x\n")
    with pytest.raises(SettingsError, match="SMARTCITY_TEST_BLOKC__HOST: not a setting"):
        load_settings(_Settings, env_file=env_file, environ={})
    env_file.write_text("SMARTCITY_TEST_BATCH_SIZE=7\n")
    assert load_settings(_Settings, env_file=env_file, environ={}).batch_size == 7


def test_every_process_refuses_a_misspelt_variable() -> None:
    from devices.settings import SimulatorSettings
    from gateway.settings import GatewaySettings
    from services.api.settings import ApiSettings
    from services.rollup.settings import RollupSettings
    from smartcity.up import UpSettings

    for cls in (GatewaySettings, SimulatorSettings, ApiSettings, RollupSettings, UpSettings):
        prefix = str(cls.model_config["env_prefix"])
        assert cls.model_config["extra"] == "forbid", cls
        with pytest.raises(SettingsError, match=f"{prefix}LOG_LEVE: not a setting"):
            load_settings(cls, environ={f"{prefix}LOG_LEVE": "INFO"})
