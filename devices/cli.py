"""``smartcity simulate``: run a city's devices against the broker (also the platform's load generator)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from devices.clock import now_ms, parse_duration
from devices.episodes import EpisodePlan, EpisodeSpecError
from devices.faults import FaultPlan, FaultSpecError
from devices.run_options import RunOptions
from devices.settings import SimulatorSettings
from devices.snapshot import Snapshot, Summary
from devices.view import Rates, live_panel, print_summary
from devices.workers import credentials, run_simulation
from smartcity.city.load import load_city
from smartcity.city.model import City, Device
from smartcity.envsettings import SettingsError, load_settings
from smartcity.logs import configure_logging


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the root CLI."""
    app.command("simulate")(simulate)


def _fail(message: str) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=2)


def select_devices(city: City, *, count: int | None, districts: list[str]) -> list[Device]:
    """The devices to run: those of the named districts (all when none named), the first ``count`` of them.
    Raises ValueError naming an unknown district or a bad count."""
    known = {district.id for district in city.districts}
    unknown = sorted(set(districts) - known)
    if unknown:
        raise ValueError(f"unknown district(s) {', '.join(unknown)}; the city has: {', '.join(sorted(known))}")
    chosen = [device for device in city.devices if not districts or device.district_id in districts]
    if count is not None:
        if count < 1:
            raise ValueError(f"--devices must be at least 1, got {count}")
        chosen = chosen[:count]
    if not chosen:
        raise ValueError("no devices selected")
    return chosen


def simulate(
    city: Annotated[Path, typer.Option("--city", help="city file (smartcity city generate --out city.json)")],
    speed: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 1.0,
    duration: Annotated[
        str | None, typer.Option(help="stop after this long (90s, 10m, 2h); default: until Ctrl-C")
    ] = None,
    devices: Annotated[int | None, typer.Option("--devices", help="run only the first N devices")] = None,
    district: Annotated[list[str] | None, typer.Option("--district", help="run only these districts")] = None,
    backfill: Annotated[
        str | None, typer.Option(help="first publish this much history (7d) as fast as allowed")
    ] = None,
    backfill_rate: Annotated[float, typer.Option(help="readings/s while backfilling")] = 5000.0,
    fault: Annotated[
        list[str] | None, typer.Option("--fault", help="NAME=SHARE, e.g. dropout=0.01 (repeatable)")
    ] = None,
    faults: Annotated[
        str | None, typer.Option("--faults", help="fault episodes in simulated time: preset 'realistic' or 'none'")
    ] = None,
    fault_rate: Annotated[
        list[str] | None,
        typer.Option("--fault-rate", help="KIND=PER_DAY episodes per device-day, e.g. stuck=0.02 (repeatable)"),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option("--truth", help="write every injected fault episode here (JSON lines, new file)")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="load mode: total readings/s over the broadband devices")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes (default from settings)")] = None,
    seed: Annotated[int | None, typer.Option(help="signal seed (default: the city's seed)")] = None,
    start: Annotated[str | None, typer.Option(help="simulated start, ISO 8601 UTC (default: now)")] = None,
    coverage_loss: Annotated[float, typer.Option(help="share of hours narrowband devices are out of coverage")] = 0.0,
    burst: Annotated[int, typer.Option(help="readings a broadband device sends per wake (same rate)")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="print the summary as JSON, no live view")] = False,
) -> None:
    """Run the city's devices: broadband ones with their own MQTT 5 sessions, narrowband ones through one
    network-server session. Ctrl-C disconnects every device cleanly and prints the summary."""
    try:
        settings = load_settings(SimulatorSettings, overrides=None if workers is None else {"workers": workers})
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    configure_logging(settings.log_level)
    try:
        credentials(settings)
    except ValueError as exc:  # CredentialsError: a missing or too short secret
        raise _fail(str(exc)) from None
    try:
        options = _options(speed, duration, backfill, backfill_rate, fault or [], rate, seed, start, coverage_loss)
        if not 1 <= burst <= 64:
            raise ValueError(f"--burst must be from 1 to 64, got {burst}")
        episodes = EpisodePlan.parse(faults, fault_rate or [])
        if truth is not None and not episodes.active:
            raise ValueError("--truth needs fault episodes: add --faults realistic or --fault-rate KIND=PER_DAY")
        options = dataclasses.replace(options, burst=burst, episodes=episodes, truth_path=truth)
    except (ValueError, FaultSpecError, EpisodeSpecError) as exc:
        raise _fail(str(exc)) from None
    try:
        loaded = load_city(city)
    except FileNotFoundError:
        raise _fail(f"city file {city} does not exist (create one: smartcity city generate --out {city})") from None
    except ValueError as exc:
        raise _fail(f"{city}: {exc}") from None
    if options.seed == 0 and seed is None and loaded.seed is not None:
        options = dataclasses.replace(options, seed=loaded.seed)
    if truth is not None:
        try:
            truth.parent.mkdir(parents=True, exist_ok=True)
            truth.write_bytes(b"")  # a new log per run; the workers append to it
        except OSError as exc:
            raise _fail(f"--truth {truth}: cannot write it ({exc.strerror})") from None
    try:
        chosen = select_devices(loaded, count=devices, districts=district or [])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console = Console()
    if json_output:
        summary = run_simulation(settings, loaded, chosen, options)
    else:
        summary = _run_with_view(settings, loaded, chosen, options, console)
    print_summary(summary, as_json=json_output, console=console)
    if summary.counters.connect_refused or not summary.counters.connects:
        # Refused credentials, or no session ever came up (broker unreachable): the errors above say which.
        raise typer.Exit(code=1)


def _run_with_view(
    settings: SimulatorSettings, city: City, chosen: list[Device], options: RunOptions, console: Console
) -> Summary:
    rates = Rates()
    started = time.monotonic()
    with Live(console=console, refresh_per_second=2, transient=False) as live:

        def show(snapshot: Snapshot) -> None:
            rates.update(snapshot)
            live.update(live_panel(snapshot, rates, devices=len(chosen), elapsed_s=time.monotonic() - started))

        return run_simulation(settings, city, chosen, options, show)


def _options(
    speed: float,
    duration: str | None,
    backfill: str | None,
    backfill_rate: float,
    faults: list[str],
    rate: float | None,
    seed: int | None,
    start: str | None,
    coverage_loss: float,
) -> RunOptions:
    if speed <= 0:
        raise ValueError(f"--speed must be positive, got {speed}")
    if rate is not None and rate <= 0:
        raise ValueError(f"--rate must be positive, got {rate}")
    if backfill_rate <= 0:
        raise ValueError(f"--backfill-rate must be positive, got {backfill_rate}")
    if not 0 <= coverage_loss < 1:
        raise ValueError(f"--coverage-loss must be in [0, 1), got {coverage_loss}")
    duration_s = parse_duration(duration) if duration else None
    if duration_s is not None and duration_s <= 0:
        raise ValueError(f"--duration must be positive, got {duration!r}")
    return RunOptions(
        seed=seed or 0,
        speed=speed,
        duration_s=duration_s,
        backfill_s=parse_duration(backfill) if backfill else 0.0,
        backfill_rate=backfill_rate,
        start_ms=_parse_start(start) if start else now_ms(),
        faults=FaultPlan.parse(faults),
        rate=rate,
        coverage_loss=coverage_loss,
    )


def _parse_start(text: str) -> int:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start {text!r} is not an ISO 8601 time (2026-03-01T08:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
