"""The ``smartcity`` command. The core owns the root and the ``city`` commands; each component adds its own
sub-commands through the ``smartcity.commands`` entry-point group, so the core never imports a component."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from smartcity.city.cli import app as city_app
from smartcity.logs import configure_logging
from smartcity.up_cli import up

app = typer.Typer(
    name="smartcity",
    help="Smart-city IoT platform: city model, simulator, ingest gateway and planning API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(city_app, name="city")
app.command("up")(up)


def _load_components() -> None:
    for entry in entry_points(group="smartcity.commands"):
        register = entry.load()
        register(app)


__all__ = ["app", "configure_logging", "main"]


def main() -> None:
    _load_components()
    app()


if __name__ == "__main__":
    main()
