"""``smartcity api audit export|verify``: the audit trail of the API's state database as CSV, and its hash chain
checked record by record (exit 0 intact, 1 at the first broken record, naming it)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from services.cli_grants import api_settings

audit_app = typer.Typer(help="The audit trail: every request made with a key, hash-chained.", no_args_is_help=True)


def _ms(option: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(f"error: {option} {text!r}: not an ISO 8601 time (2025-04-20T00:00:00Z)", err=True)
        raise typer.Exit(2) from None
    return int((moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp() * 1000)


def _existing(location: Path | str) -> Path | str:
    """The state's location; a missing SQLite file is an error (a PostgreSQL URL is checked by connecting)."""
    if isinstance(location, Path) and not location.is_file():
        path = location
        typer.echo(f"error: no state database at {path} (SMARTCITY_API_STATE_FILE)", err=True)
        raise typer.Exit(1)
    return location


@audit_app.command("export")
def _export(
    ctx: typer.Context,
    key: Annotated[str | None, typer.Option("--key", help="only this key id")] = None,
    department: Annotated[str | None, typer.Option("--department", help="only keys of this department")] = None,
    route: Annotated[str | None, typer.Option("--route", help="only this route template (/v1/history)")] = None,
    start: Annotated[str | None, typer.Option("--start", help="from this time on (ISO 8601, inclusive)")] = None,
    end: Annotated[str | None, typer.Option("--end", help="before this time (ISO 8601, exclusive)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of stdout")] = None,
) -> None:
    """Write the matching records as CSV in chain order (oldest first), with their hashes."""
    from services.api.auditlog import AuditFilter, AuditReader
    from services.api.state import StateError

    settings = api_settings(ctx.obj)
    wanted = AuditFilter(key, department, route, _ms("--start", start), _ms("--end", end))
    try:
        reader = AuditReader(_existing(settings.state_location()))
        try:
            if output is None:
                for text in reader.export(wanted):
                    typer.echo(text, nl=False)
            else:
                with output.open("w", encoding="utf-8", newline="") as out:
                    out.writelines(reader.export(wanted))
        finally:
            reader.close()
    except (StateError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@audit_app.command("verify")
def _verify(ctx: typer.Context) -> None:
    """Check every record's number, link and hash from the first on: exit 0 when the chain is intact (printing
    its head: keep it elsewhere to pin what the trail held), 1 naming the first broken record."""
    from services.api import auditchain
    from services.api.auditlog import AuditReader
    from services.api.state import StateError

    settings = api_settings(ctx.obj)
    try:
        reader = AuditReader(_existing(settings.state_location()))
        try:
            verdict = auditchain.verify(reader.connection)
        finally:
            reader.close()
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except sqlite3.Error as exc:  # a damaged file breaks the chain too
        typer.echo(f"broken: the audit trail cannot be read: {exc}", err=True)
        raise typer.Exit(1) from None
    if not verdict.intact:
        typer.echo(
            f"broken at record {verdict.broken_seq}: {verdict.reason} ({verdict.records} records before it are intact)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"intact: {verdict.records} records; head {verdict.head_seq} {verdict.head_hash}")
