"""``smartcity up``: the whole platform on this machine, end to end, from one command.

It locks the work directory (one live stack per data directory, :mod:`smartcity.workdir_lock`), starts a private
Mosquitto (persistence on, per-device accounts and ACLs) and a private InfluxDB on free loopback ports with their
data under that directory, generates the demo city when there is none, then runs the component processes declared
in :func:`smartcity.up_children.children` (the gateway, the roll-up worker, the planning API, the simulator). On
first start it creates an operator key for the API (stored hashed; :attr:`Platform.operator_key` holds it for
being shown once). On exit, however it is reached (Ctrl-C, SIGTERM, SIGHUP, ``--duration``, an error), everything
stops in reverse order, each process by its PID: the simulator, the API, the roll-up worker, the gateway (which
flushes), the broker, the database; then the lock is released. Nothing here
imports a component: they are separate processes, as in production.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.city.credentials import read_or_create_secret, service_password, write_credentials
from smartcity.city.generate import generate_city
from smartcity.city.load import dump_city, load_city
from smartcity.contract.metrics import MEASUREMENTS
from smartcity.durations import parse_duration
from smartcity.localservices import InfluxdProcess, MosquittoProcess
from smartcity.localservices.influxd import INFLUXD_BINARY
from smartcity.localservices.mosquitto import MOSQUITTO_BINARY
from smartcity.localservices.process import free_port
from smartcity.up_children import ChildSpec, StackContext, api_state_file, children, spawn, stop, wait_ready
from smartcity.up_preflight import check_binaries, check_port_free, check_workdir, mark_workdir
from smartcity.up_state import StackState, remove_state, write_state
from smartcity.up_status import gateway_counters
from smartcity.workdir_lock import WorkdirLock, start_time

log = logging.getLogger(__name__)

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}

__all__ = ["Platform", "UpSettings", "gateway_counters", "platform", "stored_points"]


class UpSettings(BaseSettings):
    """``smartcity up``: one machine, the whole platform (the command-line flags override these)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_UP_", env_nested_delimiter="__", extra="forbid")

    workdir: Path = Field(default=Path("var"), description="everything the run writes: data, logs, city, secrets")
    devices: int = Field(default=2_000, ge=1, le=1_000_000, description="devices in the generated demo city")
    seed: int = Field(default=7, description="seed of the generated city and of its signals")
    speed: float = Field(
        default=1.0,
        gt=0,
        description="simulated seconds per wall second; above 1 device clocks run ahead of real time and the "
        "gateway dead-letters readings more than its future limit ahead (timestamp-future)",
    )
    backfill: str = Field(
        default="1d",
        description="history published first, so charts have data at once; on a later start only the time since "
        "the newest stored reading, at most this",
    )
    backfill_rate: float = Field(
        default=7_500.0,
        gt=0,
        description="readings/s of the whole city while back-filling (the default city's day takes 80 s; from "
        "about 10,000 the network server's outbox overflows and readings are dropped)",
    )
    database: str = Field(default="city", pattern=r"^[A-Za-z0-9_\-]+$", description="InfluxDB database")
    topic_root: str = Field(default="city", description="first level of every MQTT topic")
    refresh_s: float = Field(default=5.0, gt=0, description="how often the status line is printed")
    api_port: int = Field(
        default=0, ge=0, le=65_535, description="port of the planning API and the city page (0: a free one)"
    )
    mosquitto_binary: Path = Field(default=MOSQUITTO_BINARY, description="the Mosquitto broker to run")
    influxd_binary: Path = Field(default=INFLUXD_BINARY, description="the InfluxDB 1.x server to run")


@dataclass
class Platform:
    """The running pieces, for the status display and for an orderly stop."""

    settings: UpSettings
    mosquitto: MosquittoProcess
    influxd: InfluxdProcess
    lock: WorkdirLock
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    """HTTP port of each child that has one (read from its port file)."""

    operator_key: str | None = None
    """The API key created on first start (None on later starts: it was shown once and is stored hashed)."""

    @property
    def gateway_http_port(self) -> int | None:
        return self.ports.get("gateway")

    @property
    def api_url(self) -> str | None:
        port = self.ports.get("api")
        return f"http://127.0.0.1:{port}" if port is not None else None

    def pids(self) -> dict[str, int]:
        """Every process this platform started that is still running, by name."""
        out = {name: s.pid for name, s in (("influxd", self.influxd), ("mosquitto", self.mosquitto)) if s.running}
        return out | {name: child.pid for name, child in self.children.items() if child.poll() is None}

    def state(self) -> StackState:
        """The running stack as ``smartcity status`` and ``smartcity down`` read it (``<workdir>/up.json``)."""
        pid = os.getpid()
        return StackState(
            pid=pid,
            start=start_time(pid),
            mqtt_port=self.mosquitto.port,
            influx_url=self.influxd.url,
            database=self.settings.database,
            ports=dict(self.ports),
            log_dir=str(self.settings.workdir.resolve() / "logs"),
        )


def _city_file(settings: UpSettings, work: Path, city: Path | None) -> Path:
    if city is not None:
        load_city(city)  # fail early, naming the bad element
        return city.resolve()
    path = work / "city.json"
    if not path.exists():
        path.write_bytes(dump_city(generate_city(devices=settings.devices, seed=settings.seed)))
        log.info("generated %s: %d devices", path, settings.devices)
    return path


@contextlib.contextmanager
def platform(
    settings: UpSettings, *, city: Path | None = None, simulate_args: list[str] | None = None
) -> Iterator[Platform]:
    """Start everything; on exit stop it in reverse order (children, broker, database), then unlock.

    Raises, before starting or writing anything, :class:`smartcity.up_preflight.UpError` (a binary missing, the
    API port taken, a data directory of another version) and :class:`smartcity.workdir_lock.WorkdirInUse` (another
    stack uses the work directory); :class:`RuntimeError` (or :class:`smartcity.localservices.ServiceError`) when
    a piece fails to start.
    """
    work = settings.workdir.resolve()
    check_binaries({"mosquitto": settings.mosquitto_binary, "influxd": settings.influxd_binary})
    check_port_free(settings.api_port, "the planning API")
    check_workdir(work)  # before the lock file is written; again under the lock, against a concurrent `up`
    with WorkdirLock(work) as lock:
        check_workdir(work)
        mark_workdir(work)
        logs = work / "logs"
        secret_file = work / "secret"
        secret = read_or_create_secret(secret_file)
        city_path = _city_file(settings, work, city)
        credentials = write_credentials(
            load_city(city_path), secret, work / "mosquitto-auth", topic_root=settings.topic_root
        )
        mosquitto = MosquittoProcess(
            work / "mosquitto",
            persistence=True,
            password_file=credentials.password_file,
            acl_file=credentials.acl_file,
            extra_conf="max_connections -1\n",
            binary=settings.mosquitto_binary,
        )
        influxd = InfluxdProcess(work / "influxd", binary=settings.influxd_binary)
        running = Platform(settings, mosquitto, influxd, lock)
        specs: list[ChildSpec] = []
        try:
            influxd.start()
            lock.record(running.pids())
            mosquitto.start()
            lock.record(running.pids())
            broker_pid_file = work / "mosquitto" / "mosquitto.pid"  # the API's SIGHUP after a decommission
            broker_pid_file.write_text(f"{mosquitto.pid}\n", encoding="utf-8")
            context = StackContext(
                workdir=work,
                city_file=city_path,
                secret_file=secret_file,
                gateway_password=service_password(secret, "gateway"),
                netserver_password=service_password(secret, "netserver"),
                api_password=service_password(secret, "api"),
                api_port=settings.api_port or free_port(),
                mqtt_port=mosquitto.port,
                influx_url=influxd.url,
                database=settings.database,
                topic_root=settings.topic_root,
                speed=settings.speed,
                backfill=_backfill_after_stored(settings.backfill, influxd.url, settings.database),
                backfill_rate=settings.backfill_rate,
                simulate_args=tuple(simulate_args or ()),
                broker_password_file=credentials.password_file,
                broker_pid_file=broker_pid_file,
                city_owned=city is None,
            )
            first_start = not api_state_file(work).exists()
            for spec in children(context):
                specs.append(spec)
                running.children[spec.name] = child = spawn(spec, logs)
                lock.record(running.pids())
                port = wait_ready(spec, child, logs)
                if port is not None:
                    running.ports[spec.name] = port
                if spec.name == "api" and first_start:
                    running.operator_key = _create_key(spec, "operator", "smartcity up: local operator")
            write_state(work, running.state())
            yield running
        finally:
            remove_state(work)
            with _signals_held():
                for spec in reversed(specs):
                    stop(spec, running.children[spec.name])
                for service in (mosquitto, influxd):
                    if service.running:
                        service.stop()


def _backfill_after_stored(backfill: str, influx_url: str, database: str) -> str:
    """The back-fill to ask of the simulator: on a later start only the time since the newest stored reading
    (never the history again, which would land on new timestamps beside the stored one), at most ``backfill``."""
    try:
        wanted = parse_duration(backfill) if backfill else 0.0
    except ValueError:
        return backfill  # the simulator names the bad value
    if not wanted:
        return backfill
    try:
        response = httpx.get(
            f"{influx_url}/query",
            params={"db": database, "q": 'SELECT last("seq") FROM /.*/', "epoch": "ms"},
            timeout=30.0,
        )
        response.raise_for_status()
        series = response.json()["results"][0].get("series") or []
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return backfill
    newest = max((int(s["values"][0][0]) for s in series if s["name"] in MEASUREMENTS), default=None)
    if newest is None:
        return backfill  # first start
    gap_s = time.time() - newest / 1000
    return f"{min(wanted, gap_s):.3f}s" if gap_s > 0 else ""


def _create_key(api: ChildSpec, role: str, name: str) -> str:
    """A new API key, through the API's own command (``smartcity api keys create``): the key itself."""
    done = subprocess.run(
        [sys.executable, "-m", "smartcity.cli", "api", "keys", "create", "--role", role, "--name", name],
        env={**os.environ, **api.environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"creating the {role} key failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold stop signals while stopping: a Ctrl-C then must not abandon the broker and the database half-way.
    A signal that arrives meanwhile is delivered once everything has stopped."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def stored_points(influx_url: str, database: str) -> dict[str, int]:
    """Points per measurement, counted by InfluxDB itself: the proof, in tests, that data flows end to end.

    It reads every point, so its cost grows with the database: the status display does not use it."""
    counts: dict[str, int] = {}
    response = httpx.get(
        f"{influx_url}/query", params={"db": database, "q": 'SELECT count("seq") FROM /.*/'}, timeout=10.0
    )
    response.raise_for_status()
    for result in response.json().get("results", []):
        for series in result.get("series", []):
            if series["name"] in MEASUREMENTS:
                counts[series["name"]] = int(series["values"][0][1])
    return counts
