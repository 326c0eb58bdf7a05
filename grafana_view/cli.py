"""``smartcity grafana build``: generate the dashboards, maps and provisioning files (docs/GRAFANA.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from smartcity.city.model import City

grafana_app = typer.Typer(help="The Grafana view of the platform, as code.", no_args_is_help=True)


@grafana_app.command("build")
def _build(
    out: Annotated[Path, typer.Option("--out", help="output directory (the repository's is deploy/grafana/)")] = Path(
        "deploy/grafana"
    ),
    city: Annotated[
        Path | None, typer.Option("--city", help="city file (default: the demo city `smartcity up` generates)")
    ] = None,
) -> None:
    """Write the dashboards, the district maps and the provisioning files for ``city`` under ``out``."""
    from grafana_view.build import write
    from smartcity.city.load import CityFileError, load_city

    try:
        model = load_city(city) if city is not None else demo_city()
    except (CityFileError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for path in write(model, out):
        typer.echo(str(path))


def demo_city() -> City:
    """The city ``smartcity up`` generates by default (its devices and seed), which deploy/grafana/ is built for."""
    from smartcity.city.generate import generate_city
    from smartcity.up import UpSettings

    fields = UpSettings.model_fields
    return generate_city(devices=fields["devices"].default, seed=fields["seed"].default)


def register(app: typer.Typer) -> None:
    """Add ``smartcity grafana`` to the root CLI."""
    app.add_typer(grafana_app, name="grafana")
