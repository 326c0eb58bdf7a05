"""What a deployment file's environment means: which process a container command starts, the settings class that
process reads (the ones :func:`smartcity.up_children.children` lists: every process of the platform), and
which of the variables set for it are no setting of it at all.

A variable resolves when, after the class's ``env_prefix``, its ``__``-separated parts name a field and then
fields of nested models (``SMARTCITY_GATEWAY_MQTT__PASSWORD`` -> ``mqtt`` -> ``password``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import BaseSettings

from smartcity.up_children import ChildSpec, StackContext, children


def declared_children() -> tuple[ChildSpec, ...]:
    """The component processes a local stack declares (a placeholder context: only names and classes matter)."""
    here = Path("/nonexistent")
    context = StackContext(
        workdir=here,
        city_file=here,
        secret_file=here,
        gateway_password="",
        netserver_password="",
        api_password="",
        api_port=1,
        mqtt_port=1,
        influx_url="http://localhost:8086",
        database="city",
        topic_root="city",
        speed=1.0,
        backfill="",
        broker_password_file=here,
        broker_pid_file=here,
        city_owned=True,
    )
    return children(context)


def _processes() -> dict[str, tuple[str, str]]:
    return {spec.argv[0]: (spec.settings_class, spec.env_prefix) for spec in declared_children()}


PROCESSES = _processes()


def settings_class(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert isinstance(cls, type), path
    assert issubclass(cls, BaseSettings), path
    return cls


def process_of(argv: Sequence[str]) -> str | None:
    """The ``smartcity`` sub-command a container runs: ``[gateway]``, ``[deploy, with-password, ..., --,
    smartcity, gateway]`` -> ``gateway``; None for an init step (``deploy broker``) that reads no settings."""
    args = list(argv)
    if args[:2] == ["deploy", "with-password"]:
        args = args[args.index("--") + 1 :]
        assert args[0] == "smartcity", argv
        args = args[1:]
    if args[:1] == ["deploy"]:
        return None
    assert args, argv
    assert args[0] in PROCESSES, f"{argv}: no settings class known for sub-command {args[0]!r}"
    return args[0]


def variables_set(argv: Sequence[str], environment: Mapping[str, str] | Iterable[str]) -> list[str]:
    """The variables given to the process: its environment plus the one ``with-password`` sets."""
    names = list(environment)
    if list(argv[:2]) == ["deploy", "with-password"]:
        names.append(argv[3])
    return names


def unknown(process: str, names: Iterable[str]) -> list[str]:
    """The names that are not a setting of ``process``'s settings class."""
    path, prefix = PROCESSES[process]
    cls = settings_class(path)
    assert cls.model_config.get("env_prefix") == prefix, (path, prefix)
    return [name for name in names if not _resolves(cls, name.removeprefix(prefix)) or not name.startswith(prefix)]


def _resolves(model: type[BaseModel], rest: str) -> bool:
    head, _, tail = rest.partition("__")
    field = model.model_fields.get(head.lower())
    if field is None:
        return False
    if not tail:
        return True
    nested = field.annotation
    return isinstance(nested, type) and issubclass(nested, BaseModel) and _resolves(nested, tail)
