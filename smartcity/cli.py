"""The ``smartcity`` command. The core owns the root and the ``city`` commands; each component adds its own
sub-commands through the ``smartcity.commands`` entry-point group, so the core never imports a component."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

import typer

from smartcity.city.cli import app as city_app
from smartcity.deploy_cli import app as deploy_app
from smartcity.logs import configure_logging
from smartcity.up_background_cli import down, status
from smartcity.up_cli import up

app = typer.Typer(
    name="smartcity",
    help="Smart-city IoT platform: city model, simulator, ingest gateway and planning API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(city_app, name="city")
app.add_typer(deploy_app, name="deploy")
app.command("up")(up)
app.command("status")(status)
app.command("down")(down)


def _load_components(argv: Sequence[str] = ()) -> None:
    """Register the components' commands: only the one ``argv`` names when it names one (each entry point is
    named after its command), so ``smartcity gateway`` does not import the simulator and the API; else all."""
    entries = entry_points(group="smartcity.commands")
    named = [entry for entry in entries if list(argv[1:2]) == [entry.name]]
    for entry in named or entries:
        entry.load()(app)


__all__ = ["app", "configure_logging", "main"]


def main() -> None:
    _load_components(sys.argv)
    app()


if __name__ == "__main__":
    main()
