"""The commands for a stack in the background: ``smartcity up --detach`` (its output), ``smartcity status`` and
``smartcity down`` (:mod:`smartcity.up_background` does the work). Exit codes as in :mod:`smartcity.up_cli`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from smartcity.up import UpSettings

_WORKDIR = typer.Option(help="the stack's work directory (default var/, or SMARTCITY_UP_WORKDIR)")


def _workdir(workdir: Path | None) -> Path:
    from smartcity.envsettings import SettingsError, load_settings
    from smartcity.up import UpSettings

    try:
        settings = load_settings(UpSettings, overrides={"workdir": workdir} if workdir is not None else {})
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings.workdir.resolve()


def run_detached(settings: UpSettings, up_args: list[str]) -> None:
    """``smartcity up --detach``: the same checks as ``up``, then the stack in the background; the URLs and the
    operator key (first start only) once it is ready."""
    from smartcity.up_background import BackgroundError, detach
    from smartcity.up_preflight import UpError, check_binaries, check_port_free, check_workdir

    console = Console()
    work = settings.workdir.resolve()
    try:
        check_binaries({"mosquitto": settings.mosquitto_binary, "influxd": settings.influxd_binary})
        check_port_free(settings.api_port, "the planning API")
        check_workdir(work)
        report = detach(up_args, work)
    except UpError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except BackgroundError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    api = report.get("api_url", "")
    console.print(f"[bold]platform up in the background[/bold] (pid {report['pid']}, log {report['log']})")
    console.print(f"  city page  {api}/\n  API docs   {api}/docs\n  metrics    {api}/metrics", highlight=False)
    if "operator_key" in report:
        key = report["operator_key"]
        console.print(f"operator key, shown only now (stored hashed): {key}", highlight=False, soft_wrap=True)
        console.print(f"  the city page as operator: {api}/#key={key}", highlight=False, soft_wrap=True)
    console.print("`smartcity status` shows how it runs, `smartcity down` stops it (the data stays).")


def status(workdir: Annotated[Path | None, _WORKDIR] = None) -> None:
    """How the local stack runs: each service's health, devices online, rates, dead letters, lags, URLs."""
    from smartcity.up_preflight import EXIT_NOT_RUNNING
    from smartcity.up_screen import StackProbe, render
    from smartcity.up_state import left_running, read_state, starting_up

    work = _workdir(workdir)
    console = Console()
    state = read_state(work)
    if state is None or not state.alive():
        if (pid := starting_up(work)) is not None:
            console.print(f"`smartcity up` (pid {pid}) is starting or stopping the stack in {work}", highlight=False)
            raise typer.Exit(1)
        left = left_running(work)
        if left:
            names = ", ".join(f"{name} (pid {pid})" for name, pid in left.items())
            console.print(f"no `smartcity up` runs in {work}, but processes it started still do: {names}")
            console.print("`smartcity down` stops them.")
            raise typer.Exit(1)
        console.print(f"no stack runs in {work} (`smartcity up --detach` starts one)", highlight=False)
        raise typer.Exit(EXIT_NOT_RUNNING)
    probe = StackProbe(state)
    probe.look()
    time.sleep(1.0)  # a second look turns the counters into rates
    view = probe.look()
    console.print(render(view, f"smartcity stack in {work} (pid {state.pid})"))
    if not view.healthy:
        raise typer.Exit(1)


def down(workdir: Annotated[Path | None, _WORKDIR] = None) -> None:
    """Stop the local stack (the simulator first, the database last); the data stays for the next `up`."""
    from smartcity.up_background import BackgroundError, stop_stack

    work = _workdir(workdir)
    try:
        stopped = stop_stack(work)
    except BackgroundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    if not stopped:
        typer.echo(f"nothing runs in {work}")
        return
    for line in stopped:
        typer.echo(line)
    typer.echo(f"stopped; data kept in {work}/")
