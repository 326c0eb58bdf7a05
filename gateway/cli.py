"""``smartcity gateway``: the ingest process (settings from the environment, an env file, or both)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def _gateway(
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help="read SMARTCITY_GATEWAY_* settings from this file (the environment wins)"),
    ] = None,
) -> None:
    """Run the MQTT -> InfluxDB ingest gateway until SIGTERM/SIGINT (see docs/GATEWAY.md)."""
    from gateway.errors import SpoolBusy, SpoolError
    from gateway.service import run
    from gateway.settings import GatewaySettings
    from smartcity.city.load import CityFileError
    from smartcity.startup import start_process

    settings = start_process(GatewaySettings, env_file)
    try:
        asyncio.run(run(settings))
    except (CityFileError, SpoolBusy) as exc:  # the loader names the bad element
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except SpoolError as exc:  # the spool cannot be opened (permissions, disk)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Add ``smartcity gateway`` to the root CLI."""
    app.command("gateway")(_gateway)
