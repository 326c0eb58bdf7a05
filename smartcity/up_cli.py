"""The ``smartcity up`` command: start the platform, show what reaches the database, stop cleanly.

Ctrl-C, SIGTERM and SIGHUP (the terminal was closed) all stop the platform the same way, in order: the first one
interrupts whatever ``up`` is doing (starting, or watching), further ones wait for the stop to finish. The
children run in sessions of their own, so only ``up`` gets the terminal's signals. After SIGHUP the terminal is
gone: output that went to it goes to /dev/null from then on, so stopping cannot fail on a dead terminal.

Exit codes: 0 after an orderly stop, 1 when something failed to start or died, 2 for a bad setting, 3 when the
work directory is in use by another live stack, 4 when the API port asked for is taken, 5 when mosquitto or
influxd is missing, 6 when the data directory was written by another version (:mod:`smartcity.up_preflight`).
``smartcity status`` exits 0 when every service answers, 1 when one does not, 7 when no stack runs.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live

if TYPE_CHECKING:
    from smartcity.up import Platform, UpSettings
    from smartcity.up_screen import StackProbe

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _StopRequested(Exception):
    """Raised by the first stop signal, wherever ``up`` is: the platform's context manager then stops it all."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        super().__init__(self.signal_name)


def _detach_from_terminal() -> None:
    # The terminal is gone (SIGHUP): writes to it would fail with EIO. A log file or a pipe stays as it is.
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        if os.isatty(fd):
            os.dup2(devnull, fd)
    os.close(devnull)


def _install_stop_handlers() -> None:
    stopping = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if signum == signal.SIGHUP:
            _detach_from_terminal()
        if stopping:
            log.info("%s: already stopping", signal.Signals(signum).name)
            return
        stopping = True
        raise _StopRequested(signum)

    for signum in _STOP_SIGNALS:
        signal.signal(signum, _on_signal)


def _watch(running: Platform, probe: StackProbe, console: Console, duration: float | None) -> None:
    """Until ``duration`` has passed (or a stop signal interrupts): a live table on a terminal, plain lines
    anywhere else (a log file, ``| tee``)."""
    from smartcity.up_screen import render

    refresh_s = running.settings.refresh_s
    started = time.monotonic()
    next_status = started
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    if live is not None:
        live.start()
    try:
        while duration is None or time.monotonic() - started < duration:
            for name, child in running.children.items():
                if child.poll() is not None and name == "gateway":
                    raise RuntimeError(f"the gateway exited with code {child.returncode}")
            if time.monotonic() >= next_status:
                view = probe.look()
                if live is not None:
                    title = f"smartcity up: {view.gateway.elapsed_s:.0f} s (Ctrl-C stops it, keeping the data)"
                    live.update(render(view, title), refresh=True)
                else:
                    console.out(view.plain(), highlight=False)
                    console.file.flush()
                next_status += refresh_s
            time.sleep(0.2)
    finally:
        if live is not None:
            live.stop()


def up(
    devices: Annotated[int | None, typer.Option(help="devices in the generated demo city")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the demo city")] = None,
    speed: Annotated[float | None, typer.Option(help="simulated seconds per wall second")] = None,
    backfill: Annotated[str | None, typer.Option(help="history published first, e.g. 1d ('' for none)")] = None,
    backfill_rate: Annotated[float | None, typer.Option(help="readings/s of the whole city while back-filling")] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (default: Ctrl-C)")] = None,
    workdir: Annotated[Path | None, typer.Option(help="where data, logs and secrets go (default var/)")] = None,
    city: Annotated[Path | None, typer.Option(help="run this city file instead of the generated one")] = None,
    api_port: Annotated[int | None, typer.Option(help="API and city page port (default: a free one)")] = None,
    detach: Annotated[bool, typer.Option(help="run in the background (`smartcity status`, `smartcity down`)")] = False,
    ready_fd: Annotated[int | None, typer.Option(hidden=True, help="report readiness on this descriptor")] = None,
) -> None:
    """Run the whole platform locally: Mosquitto, InfluxDB, the gateway, the workers, the API with the city page
    and the simulated city, end to end."""
    # Imported here so that `smartcity --help` and the components' commands stay fast.
    from smartcity.envsettings import SettingsError, load_settings
    from smartcity.localservices import ServiceError
    from smartcity.logs import configure_logging
    from smartcity.up import UpSettings, platform
    from smartcity.up_background import report_ready
    from smartcity.up_preflight import UpError
    from smartcity.up_screen import StackProbe
    from smartcity.workdir_lock import EXIT_IN_USE, WorkdirInUse

    configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per status poll is noise
    flags: dict[str, object] = {
        "devices": devices,
        "seed": seed,
        "speed": speed,
        "backfill": backfill,
        "backfill_rate": backfill_rate,
        "workdir": workdir,
        "api_port": api_port,
    }
    # Flags override the environment: validated through the same model, by the same convention as every process.
    try:
        settings = load_settings(UpSettings, overrides={k: v for k, v in flags.items() if v is not None})
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if detach:
        from smartcity.up_background_cli import run_detached

        run_detached(settings, _up_args(flags, duration, city))
        return
    console = Console()
    _install_stop_handlers()
    try:
        with platform(settings, city=city) as running:
            console.print(
                f"[bold]platform up[/bold]: MQTT [::1]:{running.mosquitto.port} and 127.0.0.1:{running.mosquitto.port}"
                f" (accounts in {settings.workdir}/mosquitto-auth), InfluxDB {running.influxd.url}"
                f" database {settings.database!r}, gateway metrics"
                f" http://127.0.0.1:{running.gateway_http_port}/metrics, logs in {settings.workdir}/logs"
            )
            console.print(
                f"[bold]city page[/bold] {running.api_url}/  [bold]planning API[/bold] {running.api_url}/docs"
                f" (metrics at {running.api_url}/metrics)",
                highlight=False,
            )
            if ready_fd is not None:  # detached: the URLs and the key go to the command that started us
                report_ready(ready_fd, {"api_url": running.api_url, "operator_key": running.operator_key})
            elif running.operator_key is not None:
                console.print(
                    f"operator key, shown only now (stored hashed): {running.operator_key}\n"
                    f"  the city page as operator: {running.api_url}/#key={running.operator_key}\n"
                    f"  curl -H 'Authorization: Bearer {running.operator_key}' {running.api_url}/v1/districts",
                    highlight=False,
                    soft_wrap=True,
                )
            probe = StackProbe(running.state())
            try:
                _watch(running, probe, console, duration)
            finally:
                console.print(
                    "stopping: simulator, API, quality and roll-up workers, gateway (flushes), broker, database"
                )
    except _StopRequested as stop:
        console.print(f"{stop.signal_name}: {_status_after(settings)}")
        return
    except UpError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except WorkdirInUse as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_IN_USE) from None
    except (RuntimeError, ServiceError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(_status_after(settings))


def _up_args(flags: dict[str, object], duration: float | None, city: Path | None) -> list[str]:
    """The flags given, as ``smartcity up`` arguments again (for the detached process)."""
    out = [f"--{name.replace('_', '-')}={value}" for name, value in flags.items() if value is not None]
    out += [f"--duration={duration}"] if duration is not None else []
    return out + ([f"--city={city.resolve()}"] if city is not None else [])


def _status_after(settings: UpSettings) -> str:
    return f"stopped; data kept in {settings.workdir}/ (run `make run` again to continue, delete it to start afresh)"
