"""`smartcity up` declares its children as data: every variable it sets is a real setting of the child's class."""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from smartcity.up_children import ChildSpec, StackContext, children


def _context(tmp_path: Path) -> StackContext:
    return StackContext(
        workdir=tmp_path,
        city_file=tmp_path / "city.json",
        secret_file=tmp_path / "secret",
        gateway_password="gw-secret",
        netserver_password="ns-secret",
        api_password="api-secret",
        api_port=18080,
        mqtt_port=18830,
        influx_url="http://127.0.0.1:18086",
        database="city",
        topic_root="town",
        speed=2.0,
        backfill="2h",
        broker_password_file=tmp_path / "mosquitto-auth" / "passwd",
        broker_pid_file=tmp_path / "mosquitto" / "mosquitto.pid",
        city_owned=True,
    )


def _settings_class(spec: ChildSpec) -> type[BaseSettings]:
    module, _, name = spec.settings_class.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type)
    assert issubclass(cls, BaseSettings)
    return cls


def _model_of(annotation: object) -> type[BaseModel] | None:
    """The model inside ``Model`` or ``Model | None``."""
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if models else None


def _variables(model: type[BaseModel], prefix: str, delimiter: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        if nested is None:
            yield f"{prefix}{name.upper()}"
        else:
            yield from _variables(nested, f"{prefix}{name.upper()}{delimiter}", delimiter)


def test_every_variable_up_sets_is_a_setting_of_its_child(tmp_path: Path) -> None:
    specs = children(_context(tmp_path))
    assert [s.name for s in specs] == ["gateway", "rollup", "quality", "api", "simulator"]
    for spec in specs:
        cls = _settings_class(spec)
        assert spec.env_prefix == cls.model_config.get("env_prefix"), spec.name
        delimiter = cls.model_config.get("env_nested_delimiter")
        assert delimiter == "__", spec.name
        known = set(_variables(cls, spec.env_prefix, delimiter))
        unknown = set(spec.environment) - known
        assert not unknown, f"{spec.name}: {sorted(unknown)} are not settings of {spec.settings_class}"


def test_the_children_read_what_up_gives_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for spec in children(_context(tmp_path)):
        for key, value in spec.environment.items():
            monkeypatch.setenv(key, value)
        dumped = _settings_class(spec)().model_dump()
        if "influx" in dumped:
            assert (dumped["influx"]["url"], dumped["influx"]["database"]) == ("http://127.0.0.1:18086", "city")
        if "mqtt" not in dumped:
            assert spec.name in ("rollup", "quality")  # the roll-up and quality workers read InfluxDB only
            continue
        mqtt = dumped["mqtt"]
        assert (mqtt["port"], mqtt["topic_root"], mqtt["password"].get_secret_value()) == (
            18830,
            "town",
            spec.settings["MQTT__PASSWORD"],
        ), spec.name


def test_the_gateway_is_ready_when_it_answers_on_the_port_it_wrote(tmp_path: Path) -> None:
    gateway, rollup, quality, api, simulator = children(_context(tmp_path))
    assert rollup.ready is not None
    assert rollup.ready.port_file == tmp_path / "rollup" / "http.port"
    assert quality.ready is not None
    assert quality.ready.port_file == tmp_path / "quality" / "http.port"
    assert api.ready is not None
    assert (api.ready.port, api.ready.port_file) == (18080, None)  # uvicorn is told its port
    assert api.settings["PORT"] == "18080"
    assert api.settings["STATE_FILE"] == str(tmp_path / "api" / "state.sqlite")
    assert gateway.ready is not None
    assert gateway.ready.port_file == tmp_path / "gateway" / "http.port"
    assert gateway.settings["SPOOL_DIR"] == str(tmp_path / "gateway")
    assert simulator.ready is None
    assert simulator.argv[:3] == ("simulate", "--city", str(tmp_path / "city.json"))
    assert simulator.argv[-4:] == ("--backfill", "2h", "--backfill-rate", "5000.0")


def test_the_api_can_revoke_a_decommissioned_device_and_edits_only_the_stacks_own_city(tmp_path: Path) -> None:
    api = next(spec for spec in children(_context(tmp_path)) if spec.name == "api")
    assert api.settings["BROKER_PASSWORD_FILE"] == str(tmp_path / "mosquitto-auth" / "passwd")
    assert api.settings["BROKER_PID_FILE"] == str(tmp_path / "mosquitto" / "mosquitto.pid")
    assert api.settings["DECOMMISSION_EDITS_CITY"] == "true"
    given = dataclasses.replace(_context(tmp_path), city_owned=False)  # a city file of the user's: left alone
    api = next(spec for spec in children(given) if spec.name == "api")
    assert "DECOMMISSION_EDITS_CITY" not in api.settings
    assert "BROKER_PASSWORD_FILE" in api.settings
