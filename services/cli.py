"""``smartcity api``: run the planning API (uvicorn), and ``smartcity api keys create|list|revoke``; grants and the
audit trail in :mod:`services.cli_grants` and :mod:`services.cli_audit`."""

from __future__ import annotations

import logging
import signal
import ssl
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from services.cli_audit import audit_app
from services.cli_grants import grants_app

if TYPE_CHECKING:
    from services.api.settings import ApiSettings

log = logging.getLogger(__name__)

api_app = typer.Typer(
    help="The planning API: serve it (no sub-command) or manage its keys.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="API keys: stored hashed, shown once when created.", no_args_is_help=True)
api_app.add_typer(keys_app, name="keys")
api_app.add_typer(grants_app, name="grants")
api_app.add_typer(audit_app, name="audit")

EnvFile = Annotated[
    Path | None,
    typer.Option("--env-file", help="read SMARTCITY_API_* settings from this file (the environment wins)"),
]


def _settings(env_file: Path | None) -> ApiSettings:
    from services.api.settings import ApiSettings
    from smartcity.startup import settings_or_exit

    return settings_or_exit(ApiSettings, env_file)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@api_app.callback()
def _api(ctx: typer.Context, env_file: EnvFile = None) -> None:
    """Serve the planning API until SIGTERM/SIGINT (see docs/API.md)."""
    ctx.obj = env_file
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from services.api.app import create_app
    from services.api.settings import ApiSettings
    from services.api.state import StateError
    from smartcity.city.load import CityFileError
    from smartcity.startup import start_process

    settings = start_process(ApiSettings, env_file)
    try:
        app = create_app(settings)
    except CityFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the handler it found: with
    # this one the process exits 0 after a clean shutdown (and at once if the signal comes before uvicorn started).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            ssl_certfile=settings.tls_cert_file,
            ssl_keyfile=settings.tls_key_file,
            ssl_ca_certs=settings.tls_client_ca_file,
            ssl_cert_reqs=ssl.CERT_REQUIRED if settings.tls_client_ca_file is not None else ssl.CERT_NONE,
        )
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@keys_app.command("create")
def _create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="planner, operator or admin")],
    district: Annotated[
        list[str] | None, typer.Option("--district", help="limit the key to this district (repeatable)")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="who or what the key is for")] = "",
    department: Annotated[
        str | None,
        typer.Option(
            "--department",
            help="the department the key belongs to (it reads others' data through grants only); "
            "without: the city's own key, which reads everything",
        ),
    ] = None,
) -> None:
    """Create a key and print it (this is the only time it is shown)."""
    from services.api.keys import Role
    from services.api.state import StateError, StateStore
    from smartcity.city.load import CityFileError, load_city

    if role not in ("planner", "operator", "admin"):
        typer.echo(f"error: --role must be planner, operator or admin, not {role!r}", err=True)
        raise typer.Exit(2)
    settings = _settings(ctx.obj)
    districts = tuple(district or ())
    if districts or department is not None:
        try:
            city = load_city(settings.city_file)
        except (CityFileError, FileNotFoundError) as exc:
            typer.echo(f"error: cannot check --district/--department against the city file: {exc}", err=True)
            raise typer.Exit(2) from None
        unknown = sorted(set(districts) - {d.id for d in city.districts})
        if unknown:
            typer.echo(f"error: unknown district(s) {', '.join(unknown)} in {settings.city_file}", err=True)
            raise typer.Exit(2)
        departments = [d.id for d in city.departments]
        if department is not None and department not in departments:
            known = ", ".join(departments) or "none"
            typer.echo(f"error: unknown department {department!r} in {settings.city_file} (it has: {known})", err=True)
            raise typer.Exit(2)
    try:
        with StateStore(settings.state_location()) as store:
            record, key = store.create(Role(role), districts, name, department)
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    scope = ", ".join(record.districts) or "the whole city"
    owner = f"department {department}" if department is not None else "the city's own: reads every department's data"
    typer.echo(f"created key {record.key_id} ({record.role.value}, {scope}, {owner}); it is shown only now:", err=True)
    typer.echo(key)


@keys_app.command("list")
def _list(ctx: typer.Context) -> None:
    """List the keys (ids, roles, districts; never the keys themselves)."""
    from services.api.schemas import iso
    from services.api.state import StateError, StateStore

    settings = _settings(ctx.obj)
    try:
        with StateStore(settings.state_location()) as store:
            records = store.list()
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{'key id':<14}{'role':<10}{'department':<14}{'created':<26}{'revoked':<26}districts / name")
    for r in records:
        revoked = iso(r.revoked_ms) if r.revoked_ms is not None else "-"
        scope = ",".join(r.districts) or "*"
        owner = r.department or "*"
        typer.echo(f"{r.key_id:<14}{r.role.value:<10}{owner:<14}{iso(r.created_ms):<26}{revoked:<26}{scope} {r.name}")


@keys_app.command("revoke")
def _revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="the key id (see list)")]) -> None:
    """Revoke a key (a running API stops accepting it within seconds)."""
    from services.api.state import StateError, StateStore

    settings = _settings(ctx.obj)
    try:
        with StateStore(settings.state_location()) as store:
            record = store.revoke(key_id)
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if record is None:
        typer.echo(f"error: no key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {record.key_id}")


def register(app: typer.Typer) -> None:
    """Add ``smartcity api`` to the root CLI."""
    app.add_typer(api_app, name="api")
