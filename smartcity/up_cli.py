"""The ``smartcity up`` command: start the platform, show what reaches the database, stop cleanly."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from smartcity.up import Platform, UpSettings

log = logging.getLogger(__name__)


def _status(running: Platform, started: float) -> Table:
    from smartcity.up import gateway_counters, stored_points

    table = Table(title=f"smartcity up: {time.monotonic() - started:.0f} s", show_header=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    points = stored_points(running.influxd.url, running.settings.database)
    for name, count in sorted(points.items()):
        table.add_row(f"stored {name}", f"{count:,}")
    table.add_row("stored total", f"{sum(points.values()):,}")
    if running.gateway_http_port is not None:
        for label, value in gateway_counters(running.gateway_http_port).items():
            table.add_row(f"gateway {label}", f"{value:,.0f}")
    return table


def up(
    devices: Annotated[int | None, typer.Option(help="devices in the generated demo city")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of the demo city")] = None,
    speed: Annotated[float | None, typer.Option(help="simulated seconds per wall second")] = None,
    backfill: Annotated[str | None, typer.Option(help="history published first, e.g. 1d ('' for none)")] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (default: Ctrl-C)")] = None,
    workdir: Annotated[Path | None, typer.Option(help="where data, logs and secrets go (default var/)")] = None,
    city: Annotated[Path | None, typer.Option(help="run this city file instead of the generated one")] = None,
) -> None:
    """Run the whole platform locally: Mosquitto, InfluxDB, the gateway and the simulated city, end to end."""
    # Imported here so that `smartcity --help` and the components' commands stay fast.
    from smartcity.cli import configure_logging
    from smartcity.up import UpSettings, platform

    configure_logging("INFO")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per status poll is noise
    flags: dict[str, object] = {
        "devices": devices,
        "seed": seed,
        "speed": speed,
        "backfill": backfill,
        "workdir": workdir,
    }
    # Flags override the environment: validate them through the same model.
    settings = UpSettings.model_validate(
        {**UpSettings().model_dump(), **{k: v for k, v in flags.items() if v is not None}}
    )
    console = Console()
    stop = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        with platform(settings, city=city) as running:
            console.print(
                f"[bold]platform up[/bold]: MQTT [::1]:{running.mosquitto.port} and 127.0.0.1:{running.mosquitto.port}"
                f" (accounts in {settings.workdir}/mosquitto-auth), InfluxDB {running.influxd.url}"
                f" database {settings.database!r}, gateway metrics"
                f" http://127.0.0.1:{running.gateway_http_port}/metrics, logs in {settings.workdir}/logs"
            )
            started = time.monotonic()
            next_status = started
            with Live(_status(running, started), console=console, auto_refresh=False) as live:
                while not stop and (duration is None or time.monotonic() - started < duration):
                    gateway = running.children["gateway"]
                    if gateway.poll() is not None:
                        raise RuntimeError(f"the gateway exited with code {gateway.returncode}")
                    if time.monotonic() >= next_status:
                        live.update(_status(running, started), refresh=True)
                        next_status += settings.refresh_s
                    time.sleep(0.2)
            console.print("\nstopping: simulator, gateway (flushes), broker, database")
        console.print(_status_after(settings))
    except RuntimeError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _status_after(settings: UpSettings) -> str:
    return f"stopped; data kept in {settings.workdir}/ (run `make run` again to continue, delete it to start afresh)"
