"""CLI registration."""

import typer


def register(app: typer.Typer) -> None:
    """Add this component's commands to the root CLI."""
