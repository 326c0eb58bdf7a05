"""``smartcity api grants add|list|revoke``: a department lets another read data it owns, until an expiry.

Grants live in the API's state database (``SMARTCITY_API_STATE_FILE``); a running API sees a change at its next
request. Departments, metrics and facility kinds are checked against the city file (``SMARTCITY_API_CITY_FILE``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from services.api.settings import ApiSettings

grants_app = typer.Typer(
    help="Grants: one department lets another read data it owns (metrics or facility kinds), until an expiry.",
    no_args_is_help=True,
)


def api_settings(env_file: Path | None) -> ApiSettings:
    """The API's settings (from ``--env-file`` of ``smartcity api`` and the environment), or exit 2."""
    from services.api.settings import ApiSettings
    from smartcity.startup import settings_or_exit

    return settings_or_exit(ApiSettings, env_file)


def _names(values: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists alike: ``--metrics a,b --metrics c``."""
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]


@grants_app.command("add")
def _add(
    ctx: typer.Context,
    from_department: Annotated[str, typer.Option("--from", help="the department that owns the data")],
    to_department: Annotated[str, typer.Option("--to", help="the department that may read it")],
    expires: Annotated[
        str, typer.Option("--expires", help="ISO 8601 time (2025-06-30T00:00:00Z) or a duration (90d, 12h, P30D)")
    ],
    metrics: Annotated[
        list[str] | None, typer.Option("--metrics", help="only these metrics of --from (comma-separated, repeatable)")
    ] = None,
    facility_kinds: Annotated[
        list[str] | None,
        typer.Option("--facility-kinds", help="only readings at facilities of these kinds of --from"),
    ] = None,
) -> None:
    """Grant --to read what --from owns: the --metrics, the --facility-kinds, or (neither) everything; prints the
    grant id."""
    from services.api.grants import GrantError, GrantStore, check_grant, parse_expiry
    from services.api.schemas import iso
    from services.api.state import StateError, StateStore
    from smartcity.city.load import CityFileError, load_city

    settings = api_settings(ctx.obj)
    try:
        city = load_city(settings.city_file)
    except (CityFileError, FileNotFoundError) as exc:
        typer.echo(f"error: cannot check the grant against the city file: {exc}", err=True)
        raise typer.Exit(2) from None
    now_ms = int(time.time() * 1000)
    try:
        names, kinds = check_grant(
            city.departments, from_department, to_department, _names(metrics), _names(facility_kinds)
        )
        expires_ms = parse_expiry(expires, now_ms)
    except GrantError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        with StateStore(settings.state_location()) as store:
            grant = GrantStore(store.connection).add(
                from_department, to_department, expires_ms, metrics=names, facility_kinds=kinds, now_ms=now_ms
            )
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"granted {grant.grant_id}: {to_department} reads {grant.scope} of {from_department} "
        f"until {iso(grant.expires_ms)}",
        err=True,
    )
    typer.echo(grant.grant_id)


@grants_app.command("list")
def _list(ctx: typer.Context) -> None:
    """List every grant with its state (active, expired, revoked), oldest first."""
    from services.api.grants import GrantStore
    from services.api.schemas import iso
    from services.api.state import StateError, StateStore

    settings = api_settings(ctx.obj)
    try:
        with StateStore(settings.state_location()) as store:
            grants = GrantStore(store.connection).list()
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    now_ms = int(time.time() * 1000)
    typer.echo(f"{'grant id':<14}{'state':<9}{'from':<14}{'to':<14}{'expires':<26}covers")
    for g in grants:
        state = g.status(now_ms)
        line = f"{g.grant_id:<14}{state:<9}{g.from_department:<14}{g.to_department:<14}{iso(g.expires_ms):<26}"
        typer.echo(line + g.scope)


@grants_app.command("revoke")
def _revoke(ctx: typer.Context, grant_id: Annotated[str, typer.Argument(help="the grant id (see list)")]) -> None:
    """Revoke a grant (a running API stops answering what it allowed at its next request)."""
    from services.api.grants import GrantStore
    from services.api.state import StateError, StateStore

    settings = api_settings(ctx.obj)
    try:
        with StateStore(settings.state_location()) as store:
            grant = GrantStore(store.connection).revoke(grant_id)
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if grant is None:
        typer.echo(f"error: no grant {grant_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {grant.grant_id} ({grant.to_department} reading {grant.scope} of {grant.from_department})")
