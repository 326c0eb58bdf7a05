"""``smartcity up``: the whole platform on this machine, end to end, from one command.

It starts a private Mosquitto (persistence on, per-device accounts and ACLs) and a private InfluxDB on free
loopback ports with their data under one work directory, generates the demo city when there is none, then runs
the gateway and the simulator as child processes (``smartcity gateway``, ``smartcity simulate``) and shows what
reaches the database. Ctrl-C (or ``--duration``) stops the simulator, then the gateway (which flushes), then the
services, each by its PID. Nothing here imports a component: they are separate processes, as in production.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.city.credentials import read_or_create_secret, service_password, write_credentials
from smartcity.city.generate import generate_city
from smartcity.city.load import load_city
from smartcity.contract.metrics import MEASUREMENTS
from smartcity.localservices import InfluxdProcess, MosquittoProcess

log = logging.getLogger(__name__)

_COMPONENT = [sys.executable, "-m", "smartcity.cli"]


class UpSettings(BaseSettings):
    """``smartcity up``: one machine, the whole platform (the command-line flags override these)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_UP_", env_nested_delimiter="__", extra="ignore")

    workdir: Path = Field(default=Path("var"), description="everything the run writes: data, logs, city, secrets")
    devices: int = Field(default=2_000, ge=1, le=1_000_000, description="devices in the generated demo city")
    seed: int = Field(default=7, description="seed of the generated city and of its signals")
    speed: float = Field(
        default=1.0,
        gt=0,
        description="simulated seconds per wall second; above 1 device clocks run ahead of real time and the "
        "gateway dead-letters readings more than its future limit ahead (timestamp-future)",
    )
    backfill: str = Field(default="1d", description="history published first, so charts have data at once")
    database: str = Field(default="city", pattern=r"^[A-Za-z0-9_\-]+$", description="InfluxDB database")
    topic_root: str = Field(default="city", description="first level of every MQTT topic")
    refresh_s: float = Field(default=5.0, gt=0, description="how often the status line is printed")


@dataclass
class Platform:
    """The running pieces, for the status display and for an orderly stop."""

    settings: UpSettings
    mosquitto: MosquittoProcess
    influxd: InfluxdProcess
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    gateway_http_port: int | None = None


def _city_file(settings: UpSettings, city: Path | None) -> Path:
    if city is not None:
        load_city(city)  # fail early, naming the bad element
        return city
    path = settings.workdir / "city.json"
    if not path.exists():
        generated = generate_city(devices=settings.devices, seed=settings.seed)
        path.write_bytes(generated.model_dump_json(indent=None).encode())
        log.info("generated %s: %d devices", path, settings.devices)
    return path


def _spawn(name: str, argv: list[str], env: Mapping[str, str], logs: Path) -> subprocess.Popen[bytes]:
    logs.mkdir(parents=True, exist_ok=True)
    # The child gets its own copy of the log descriptor; ours is closed once it has started.
    with (logs / f"{name}.log").open("ab") as out:
        return subprocess.Popen([*_COMPONENT, *argv], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(url: str, child: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with code {child.returncode} (see its log)")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s:.0f} s")


@contextlib.contextmanager
def platform(
    settings: UpSettings, *, city: Path | None = None, simulate_args: list[str] | None = None
) -> Iterator[Platform]:
    """Start everything; on exit stop it in reverse order (simulator, gateway, broker, database)."""
    work = settings.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    secret_file = work / "secret"
    secret = read_or_create_secret(secret_file)
    city_path = _city_file(settings, city).resolve()
    credentials = write_credentials(
        load_city(city_path), secret, work / "mosquitto-auth", topic_root=settings.topic_root
    )
    mosquitto = MosquittoProcess(
        work / "mosquitto",
        persistence=True,
        password_file=credentials.password_file,
        acl_file=credentials.acl_file,
        extra_conf="max_connections -1\n",
    )
    influxd = InfluxdProcess(work / "influxd")
    running = Platform(settings, mosquitto, influxd)
    try:
        influxd.start()
        mosquitto.start()
        common = {"MQTT__HOST": "::1", "MQTT__PORT": str(mosquitto.port), "MQTT__TOPIC_ROOT": settings.topic_root}
        gateway_env = {f"SMARTCITY_GATEWAY_{key}": value for key, value in common.items()} | {
            "SMARTCITY_GATEWAY_MQTT__USERNAME": "gateway",
            "SMARTCITY_GATEWAY_MQTT__PASSWORD": service_password(secret, "gateway"),
            "SMARTCITY_GATEWAY_INFLUX__URL": influxd.url,
            "SMARTCITY_GATEWAY_INFLUX__DATABASE": settings.database,
            "SMARTCITY_GATEWAY_CITY_FILE": str(city_path),
            "SMARTCITY_GATEWAY_SPOOL_DIR": str(work / "gateway"),
            "SMARTCITY_GATEWAY_HTTP_PORT": "0",
        }
        port_file = work / "gateway" / "http.port"
        port_file.unlink(missing_ok=True)
        gateway = running.children["gateway"] = _spawn("gateway", ["gateway"], gateway_env, logs)
        running.gateway_http_port = _read_port(port_file, gateway, timeout_s=60)
        _wait_ready(f"http://127.0.0.1:{running.gateway_http_port}/readyz", gateway, timeout_s=60)
        sim_env = {f"SMARTCITY_SIM_{key}": value for key, value in common.items()} | {
            "SMARTCITY_SIM_DEVICE_SECRET_FILE": str(secret_file),
            "SMARTCITY_SIM_MQTT__USERNAME": "netserver",
            "SMARTCITY_SIM_MQTT__PASSWORD": service_password(secret, "netserver"),
        }
        argv = ["simulate", "--city", str(city_path), "--speed", str(settings.speed), "--json"]
        if settings.backfill:
            argv += ["--backfill", settings.backfill]
        running.children["simulator"] = _spawn("simulator", argv + (simulate_args or []), sim_env, logs)
        yield running
    finally:
        for name in ("simulator", "gateway"):
            child = running.children.get(name)
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within 60 s; killing pid %d", name, child.pid)
                    child.kill()
                    child.wait()
        for service in (mosquitto, influxd):
            if service.running:
                service.stop()


def _read_port(path: Path, child: subprocess.Popen[bytes], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the gateway exited with code {child.returncode} (see var/logs/gateway.log)")
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(path.read_text().strip())
        time.sleep(0.1)
    raise RuntimeError(f"the gateway did not publish its HTTP port in {path}")


def stored_points(influx_url: str, database: str) -> dict[str, int]:
    """Points per measurement, counted by InfluxDB itself (the proof that data flows end to end)."""
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


_GATEWAY_COUNTERS = {
    "smartcity_gateway_messages_received": "received",
    "smartcity_gateway_points_written": "points written",
    "smartcity_gateway_rejected": "dead-lettered",
    "smartcity_gateway_spool_depth": "spooled now",
}


def gateway_counters(port: int) -> dict[str, float]:
    """Sum the gateway's headline counters over their labels (empty when it does not answer)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2.0).text
    except httpx.HTTPError:
        return {}
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        label = _GATEWAY_COUNTERS.get(family.name)
        if label is None:
            continue
        totals[label] = sum(s.value for s in family.samples if not s.name.endswith("_created"))
    return totals
