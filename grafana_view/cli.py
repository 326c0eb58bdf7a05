"""``smartcity grafana build``: generate the dashboards, maps and provisioning files; ``smartcity grafana push``:
upload datasources, dashboards and alert rules to a running Grafana (docs/GRAFANA.md)."""

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


@grafana_app.command("push")
def _push(
    url: Annotated[str | None, typer.Option("--url", help="Grafana's root URL (or SMARTCITY_GRAFANA_URL)")] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="a service-account token (better: SMARTCITY_GRAFANA_TOKEN)")
    ] = None,
    org_id: Annotated[
        int | None, typer.Option("--org-id", help="the Grafana organisation (default: the token's)")
    ] = None,
    city: Annotated[
        Path | None, typer.Option("--city", help="city file (default: the demo city `smartcity up` generates)")
    ] = None,
    env_file: Annotated[Path | None, typer.Option("--env-file", help="read SMARTCITY_GRAFANA_* from this file")] = None,
) -> None:
    """Upload the datasources, the dashboards (into the city's folder) and the alert rules to a running Grafana 11
    or later; what already matches is left alone. Exit codes: 2 bad settings or city, 3 no Grafana at the URL,
    4 token refused, 5 Grafana too old, 6 Grafana refused a change."""
    from grafana_view.grafana_api import GrafanaConnection, GrafanaError
    from grafana_view.push import Action, PushSettings, bundle, push
    from smartcity.city.load import CityFileError, load_city
    from smartcity.envsettings import SettingsError, load_settings

    overrides = {key: value for key, value in (("url", url), ("token", token), ("org_id", org_id)) if value is not None}
    try:
        settings = load_settings(PushSettings, env_file=env_file, overrides=overrides)
        model = load_city(city) if city is not None else demo_city()
    except (SettingsError, CityFileError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    secret = settings.token.get_secret_value() if settings.token is not None else None
    try:
        with GrafanaConnection(settings.url, secret, org_id=settings.org_id, timeout_s=settings.timeout_s) as grafana:
            changes = push(grafana, bundle(model, settings))
    except GrafanaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    for change in changes:
        typer.echo(f"{change.action.value:<9} {change.kind} {change.name}")
    counts = {action: sum(change.action is action for change in changes) for action in Action}
    typer.echo(", ".join(f"{count} {action.value}" for action, count in counts.items()) + f" ({settings.url})")


def demo_city() -> City:
    """The city ``smartcity up`` generates by default (its devices and seed), which deploy/grafana/ is built for."""
    from smartcity.city.generate import generate_city
    from smartcity.up import UpSettings

    fields = UpSettings.model_fields
    return generate_city(devices=fields["devices"].default, seed=fields["seed"].default)


def register(app: typer.Typer) -> None:
    """Add ``smartcity grafana`` to the root CLI."""
    app.add_typer(grafana_app, name="grafana")
