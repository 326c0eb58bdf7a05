"""``smartcity quality``: the data-quality worker (settings from the environment, an env file, or both)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def _quality(
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help="read SMARTCITY_QUALITY_* settings from this file (the environment wins)"),
    ] = None,
) -> None:
    """Flag faulty devices (offline, stuck, spikes, drift, skew, battery) until SIGTERM/SIGINT (docs/QUALITY.md)."""
    from services.quality.service import run
    from services.quality.settings import QualitySettings
    from smartcity.startup import run_process

    run_process(QualitySettings, run, env_file)


def register(app: typer.Typer) -> None:
    """Add ``smartcity quality`` to the root CLI."""
    app.command("quality")(_quality)
