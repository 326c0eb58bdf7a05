"""``smartcity data status|expire``: what the store holds per dataset and how long, and the expiry pass for
datasets whose retention is their own (settings of the roll-up worker: ``SMARTCITY_ROLLUP_INFLUX__*``,
``SMARTCITY_ROLLUP_CITY_FILE``).

Exit codes: 0 done, 1 InfluxDB unreachable or refusing, 2 bad settings or city file.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from services.lifecycle.status import HeldRow
    from services.rollup.settings import RollupSettings

data_app = typer.Typer(help="The data life cycle: what is held per dataset, how long it is kept.", no_args_is_help=True)
EnvFile = Annotated[
    Path | None,
    typer.Option("--env-file", help="read SMARTCITY_ROLLUP_* settings from this file (the environment wins)"),
]


def _settings(env_file: Path | None) -> RollupSettings:
    from services.rollup.settings import RollupSettings
    from smartcity.startup import settings_or_exit

    return settings_or_exit(RollupSettings, env_file)


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _days(days: float | None) -> str:
    return "for ever" if days is None else f"{days:g} d"


def _leaves(row: HeldRow, now_ms: int) -> str:
    expires = row.expires_ms
    due = expires is not None and expires <= now_ms  # the next expiry (or the policy's next check) removes it
    return _when(expires) + (" (due)" if due else "")


def table(rows: list[HeldRow], now_ms: int) -> list[str]:
    """The status as aligned text lines, a header first."""
    head = ("holding", "kind", "measurement", "policy", "oldest", "newest", "points (est.)", "kept", "oldest leaves")
    body = [
        (
            row.holding.name,
            row.holding.kind,
            row.holding.measurement,
            row.policy,
            _when(row.oldest_ms),
            _when(row.newest_ms),
            "-" if row.points_estimate is None else f"{row.points_estimate:,}",
            f"{_days(row.kept_days)} ({row.kept_by})",
            _leaves(row, now_ms),
        )
        for row in rows
    ]
    widths = [max(len(line[n]) for line in (head, *body)) for n in range(len(head))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (head, *body)
    ]


@data_app.command("status")
def _status(
    env_file: EnvFile = None,
    empty: Annotated[bool, typer.Option("--empty/--no-empty", help="also list what holds nothing")] = False,
) -> None:
    """Per dataset, measurement and retention policy: oldest and newest point, points (estimated from the city
    model), how long points are kept and when the oldest leaves."""
    from services.lifecycle.status import read_status
    from smartcity.city.load import CityFileError, load_city
    from smartcity.influx.client import InfluxClient
    from smartcity.influx.errors import InfluxError

    settings = _settings(env_file)
    try:
        city = load_city(settings.city_file)
    except (CityFileError, FileNotFoundError) as exc:
        typer.echo(f"error: cannot read the city file {settings.city_file}: {exc}", err=True)
        raise typer.Exit(2) from None

    async def read() -> list[HeldRow]:
        async with InfluxClient(settings.influx) as influx:
            return await read_status(influx, city)

    try:
        rows = asyncio.run(read())
    except InfluxError as exc:
        where = f"{settings.influx.url} (database {settings.influx.database})"
        typer.echo(f"error: InfluxDB at {where} did not answer the status queries: {exc}", err=True)
        raise typer.Exit(1) from None
    for line in table([row for row in rows if empty or row.oldest_ms is not None], int(time.time() * 1000)):
        typer.echo(line)


@data_app.command("expire")
def _expire(env_file: EnvFile = None) -> None:
    """Remove the points of every dataset with a retention of its own that are older than it, from every
    retention policy (the roll-up worker does this every SMARTCITY_ROLLUP_EXPIRE_INTERVAL_S too)."""
    from services.lifecycle.expiry import expire
    from smartcity.influx.client import InfluxClient
    from smartcity.influx.errors import InfluxError

    settings = _settings(env_file)

    async def run() -> int:
        async with InfluxClient(settings.influx) as influx:
            return await expire(influx)

    try:
        ran = asyncio.run(run())
    except InfluxError as exc:
        typer.echo(f"error: InfluxDB at {settings.influx.url} refused the expiry: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"expired: {ran} datasets with a retention of their own")


def register(app: typer.Typer) -> None:
    """Add ``smartcity data`` to the root CLI."""
    app.add_typer(data_app, name="data")
