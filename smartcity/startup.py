"""How a long-running command of the platform starts, the same way for each: its settings or exit code 2 (every
problem named by its variable), its city file or exit code 2 (naming the variable that sets it), then logging
configured once, with httpx's one INFO line per request kept out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

import typer
from pydantic_settings import BaseSettings

from smartcity.envsettings import SettingsError, load_settings
from smartcity.logs import LogFormat, configure_logging

_Settings = TypeVar("_Settings", bound=BaseSettings)


class _ProcessSettings(Protocol):
    city_file: Path
    log_level: str
    log_format: LogFormat


def settings_or_exit(cls: type[_Settings], env_file: Path | None) -> _Settings:
    """``cls`` from the environment (and ``env_file``); exit code 2 with every problem otherwise."""
    try:
        return load_settings(cls, env_file=env_file)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def start_process(cls: type[_Settings], env_file: Path | None) -> _Settings:
    """Settings, the city file they name, and logging: everything a process checks before it runs."""
    settings = settings_or_exit(cls, env_file)
    process: _ProcessSettings = settings  # type: ignore[assignment]
    if not process.city_file.is_file():
        variable = f"{cls.model_config.get('env_prefix', '')}CITY_FILE"
        typer.echo(f"error: city file {process.city_file} not found (set {variable})", err=True)
        raise typer.Exit(2)
    configure_logging(process.log_level, process.log_format)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    return settings


def run_process(
    cls: type[_Settings], run: Callable[[_Settings], Coroutine[Any, Any, None]], env_file: Path | None
) -> None:
    """Start a worker process (:func:`start_process`) and run ``run(settings)`` until it returns; a city file that
    stops loading while it runs is exit code 2, as at the start."""
    from smartcity.city.load import CityFileError

    settings = start_process(cls, env_file)
    try:
        asyncio.run(run(settings))
    except CityFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
