"""How every process reads its settings: one convention, so a typo never goes unnoticed.

pydantic-settings silently ignores environment variables that carry a process's prefix but name no setting
(``SMARTCITY_GATEWAY_BATCH_SIZ=10`` would just be ignored). :func:`load_settings` builds the settings, refuses such
variables (naming the closest real one) and turns every validation problem into one line per variable::

    SMARTCITY_GATEWAY_BATCH_SIZE: Input should be greater than or equal to 1 (got '0')

The command line prints :class:`SettingsError` and exits with code 2.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

_Settings = TypeVar("_Settings", bound=BaseSettings)


class SettingsError(ValueError):
    """Settings that cannot be used: unknown variables, bad values or a missing env file (exit code 2)."""


def _prefix_and_delimiter(cls: type[BaseSettings]) -> tuple[str, str]:
    config = cls.model_config
    return str(config.get("env_prefix", "")).upper(), str(config.get("env_nested_delimiter") or "__")


def setting_names(cls: type[BaseSettings]) -> set[str]:
    """Every environment variable name ``cls`` reads, nested blocks included (``SMARTCITY_GATEWAY_MQTT__HOST``)."""
    prefix, delimiter = _prefix_and_delimiter(cls)
    return {prefix + name for name in _field_paths(cls, delimiter)}


def _field_paths(model: type[BaseModel], delimiter: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        key = (field.validation_alias if isinstance(field.validation_alias, str) else name).upper()
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield key  # a whole block may be given as JSON too
            for nested in _field_paths(annotation, delimiter):
                yield key + delimiter + nested
        else:
            yield key


def unknown_variables(cls: type[BaseSettings], environ: Mapping[str, str]) -> list[str]:
    """Variables with ``cls``'s prefix that name no setting, each with the closest real name when there is one."""
    prefix, _delimiter = _prefix_and_delimiter(cls)
    known = setting_names(cls)
    problems = []
    for name in sorted(environ):
        if not prefix or not name.upper().startswith(prefix) or name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"  {name}: not a setting{hint}")
    return problems


def explain(cls: type[BaseSettings], error: ValidationError) -> list[str]:
    """One line per problem, named by its environment variable."""
    prefix, delimiter = _prefix_and_delimiter(cls)
    lines = []
    for problem in error.errors():
        name = prefix + delimiter.join(str(part).upper() for part in problem["loc"])
        given = f" (got {problem['input']!r})" if problem.get("type") != "missing" else ""
        if given and _is_secret(cls, problem["loc"]):
            given = " (the value is a secret: not shown)"
        lines.append(f"  {name}: {problem['msg']}{given}")
    return lines


def _is_secret(cls: type[BaseModel], loc: tuple[int | str, ...]) -> bool:
    """Whether the setting at ``loc`` holds a secret (a ``SecretStr``), whose value never goes into a message."""
    model: object = cls
    for part in loc:
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        field = fields.get(str(part))
        if field is None:
            return False
        if "SecretStr" in repr(field.annotation):
            return True
        model = field.annotation
    return False


def load_settings(
    cls: type[_Settings],
    *,
    env_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> _Settings:
    """Build ``cls`` from the environment (and ``env_file``, which the environment overrides; ``overrides``, from
    command-line options, win over both); raise :class:`SettingsError` listing every unknown variable and every
    invalid value."""
    environment = os.environ if environ is None else environ
    if env_file is not None and not env_file.is_file():
        raise SettingsError(f"env file {env_file} does not exist")
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None} if env_file else {}
    problems = unknown_variables(cls, {**from_file, **environment})
    settings: _Settings | None = None
    try:
        settings = cls(_env_file=env_file, **(overrides or {}))
    except ValidationError as exc:
        problems += explain(cls, exc)
    if problems or settings is None:
        prefix, _delimiter = _prefix_and_delimiter(cls)
        raise SettingsError(f"invalid settings ({prefix}*):\n" + "\n".join(problems))
    return settings
