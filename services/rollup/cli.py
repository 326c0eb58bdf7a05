"""``smartcity rollup``: the roll-up worker (settings from the environment, an env file, or both)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def _rollup(
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help="read SMARTCITY_ROLLUP_* settings from this file (the environment wins)"),
    ] = None,
) -> None:
    """Roll raw readings up into 1-minute, 1-hour and 1-day aggregates until SIGTERM/SIGINT (docs/ROLLUPS.md)."""
    from services.rollup.service import run
    from services.rollup.settings import RollupSettings
    from smartcity.startup import run_process

    run_process(RollupSettings, run, env_file)


def register(app: typer.Typer) -> None:
    """Add ``smartcity rollup`` to the root CLI."""
    app.command("rollup")(_rollup)
