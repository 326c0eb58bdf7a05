"""The processes ``smartcity up`` runs, declared as data: one :class:`ChildSpec` per component process.

A spec names the sub-command, the settings class the process reads (as an import path: the core never imports
a component), the variables it is given (under that class's ``env_prefix``, nested blocks joined by ``__``) and how
``up`` knows it is ready. Children start in list order, each after the previous one is ready, and stop in reverse
order: the gateway, the roll-up worker, the planning API, then the simulator. Adding a process is one more entry in
:func:`children`; a unit test checks that every variable of every entry is a real setting of the class it names.

Each child runs in a session of its own (``start_new_session``): a signal from the terminal (Ctrl-C, SIGHUP when
it closes) reaches ``up`` only, and ``up`` stops the children in order rather than all of them at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

_COMPONENT = (sys.executable, "-m", "smartcity.cli")


@dataclass(frozen=True, slots=True)
class HttpReadiness:
    """Ready when ``GET http://127.0.0.1:<port><path>`` answers 200. The port is ``port`` when the child is told
    which one to bind, else read from ``port_file``, where a child told to bind port 0 writes the one it got."""

    port_file: Path | None = None
    path: str = "/readyz"
    timeout_s: float = 60.0
    port: int | None = None


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One process of the platform, as ``up`` starts it."""

    name: str
    argv: tuple[str, ...]
    """Arguments after ``smartcity``: the component's sub-command and its flags."""
    settings_class: str
    """``module:Class`` of the process's pydantic-settings class (checked by a test, never imported here)."""
    env_prefix: str
    settings: Mapping[str, str]
    """Variables without the prefix, nested blocks joined by ``__`` (``MQTT__PORT``)."""
    ready: HttpReadiness | None = None
    """None: started is ready (nothing waits for it)."""
    stop_timeout_s: float = 60.0
    """How long a SIGTERM may take (the gateway flushes its batches) before the child is killed."""

    @property
    def environment(self) -> dict[str, str]:
        return {f"{self.env_prefix}{key}": value for key, value in self.settings.items()}


@dataclass(frozen=True, slots=True)
class StackContext:
    """What the children's settings are made of, known once the broker and the database run."""

    workdir: Path
    city_file: Path
    secret_file: Path
    gateway_password: str
    netserver_password: str
    api_password: str
    api_port: int
    mqtt_port: int
    influx_url: str
    database: str
    topic_root: str
    speed: float
    backfill: str
    broker_password_file: Path | None = None
    """The broker's password file, which the API edits when it decommissions a device."""
    broker_pid_file: Path | None = None
    """Holds the broker's PID, for the API's SIGHUP after such an edit."""
    city_owned: bool = False
    """The city file is the stack's own (generated in the work directory): decommissioning may edit it."""
    simulate_args: tuple[str, ...] = ()
    backfill_rate: float = 5_000.0


def children(ctx: StackContext) -> tuple[ChildSpec, ...]:
    """The component processes of a local platform, in start order."""
    mqtt = {"MQTT__HOST": "::1", "MQTT__PORT": str(ctx.mqtt_port), "MQTT__TOPIC_ROOT": ctx.topic_root}
    influx = {"INFLUX__URL": ctx.influx_url, "INFLUX__DATABASE": ctx.database}
    spool, rollup = ctx.workdir / "gateway", ctx.workdir / "rollup"
    simulate = ["simulate", "--city", str(ctx.city_file), "--speed", str(ctx.speed), "--json"]
    if ctx.backfill:
        simulate += ["--backfill", ctx.backfill, "--backfill-rate", str(ctx.backfill_rate)]
    return (
        ChildSpec(
            name="gateway",
            argv=("gateway",),
            settings_class="gateway.settings:GatewaySettings",
            env_prefix="SMARTCITY_GATEWAY_",
            settings=mqtt
            | influx
            | {
                "MQTT__USERNAME": "gateway",
                "MQTT__PASSWORD": ctx.gateway_password,
                "CITY_FILE": str(ctx.city_file),
                "SPOOL_DIR": str(spool),
                "HTTP_PORT": "0",
            },
            ready=HttpReadiness(port_file=spool / "http.port"),
        ),
        ChildSpec(
            name="rollup",
            argv=("rollup",),
            settings_class="services.rollup.settings:RollupSettings",
            env_prefix="SMARTCITY_ROLLUP_",
            settings=influx | {"CITY_FILE": str(ctx.city_file), "STATE_DIR": str(rollup), "HTTP_PORT": "0"},
            ready=HttpReadiness(port_file=rollup / "http.port"),
        ),
        ChildSpec(
            name="quality",
            argv=("quality",),
            settings_class="services.quality.settings:QualitySettings",
            env_prefix="SMARTCITY_QUALITY_",
            settings=influx
            | {"CITY_FILE": str(ctx.city_file), "STATE_DIR": str(ctx.workdir / "quality"), "HTTP_PORT": "0"},
            ready=HttpReadiness(port_file=ctx.workdir / "quality" / "http.port"),
        ),
        ChildSpec(
            name="api",
            argv=("api",),
            settings_class="services.api.settings:ApiSettings",
            env_prefix="SMARTCITY_API_",
            settings=mqtt
            | influx
            | {
                "MQTT__USERNAME": "api",
                "MQTT__PASSWORD": ctx.api_password,
                "MQTT__CLIENT_ID": "smartcity-api",
                "COMMANDS": "true",
                "CITY_FILE": str(ctx.city_file),
                "STATE_FILE": str(api_state_file(ctx.workdir)),
                "HOST": "127.0.0.1",
                "PORT": str(ctx.api_port),
            }
            | _decommissioning(ctx),
            ready=HttpReadiness(port=ctx.api_port),
            stop_timeout_s=30.0,
        ),
        ChildSpec(
            name="simulator",
            argv=(*simulate, *ctx.simulate_args),
            settings_class="devices.settings:SimulatorSettings",
            env_prefix="SMARTCITY_SIM_",
            settings=mqtt
            | {
                "DEVICE_SECRET_FILE": str(ctx.secret_file),
                "MQTT__USERNAME": "netserver",
                "MQTT__PASSWORD": ctx.netserver_password,
            },
            stop_timeout_s=30.0,
        ),
    )


def _decommissioning(ctx: StackContext) -> dict[str, str]:
    """What lets the API's ``DELETE /v1/devices/{id}`` revoke the device's broker account and, for the stack's own
    city, remove it from the city file (so the next start does not give the account back)."""
    found = {"BROKER_PASSWORD_FILE": ctx.broker_password_file, "BROKER_PID_FILE": ctx.broker_pid_file}
    settings = {name: str(path) for name, path in found.items() if path is not None}
    return settings | ({"DECOMMISSION_EDITS_CITY": "true"} if ctx.city_owned else {})


def api_state_file(workdir: Path) -> Path:
    """The planning API's embedded database (keys, command log) in a local stack."""
    return workdir / "api" / "state.sqlite"


def spawn(spec: ChildSpec, logs: Path) -> subprocess.Popen[bytes]:
    """Start the child in its own session, its output appended to ``logs/<name>.log``."""
    logs.mkdir(parents=True, exist_ok=True)
    if spec.ready is not None and spec.ready.port_file is not None:
        spec.ready.port_file.unlink(missing_ok=True)  # a stale port from the last run must not be trusted
    # The child gets its own copy of the log descriptor; ours is closed once it has started.
    with (logs / f"{spec.name}.log").open("ab") as out:
        return subprocess.Popen(
            [*_COMPONENT, *spec.argv],
            env={**os.environ, **spec.environment},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(spec: ChildSpec, child: subprocess.Popen[bytes], logs: Path) -> int | None:
    """Block until the child is ready; its HTTP port, or None when it has no readiness check."""
    ready = spec.ready
    if ready is None:
        return None
    deadline = time.monotonic() + ready.timeout_s
    port = ready.port
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{spec.name} exited with code {child.returncode} (see {logs / spec.name}.log)")
        if port is None and ready.port_file is not None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                port = int(ready.port_file.read_text().strip())
        if port is not None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}{ready.path}", timeout=1.0).status_code == 200:
                    return port
        time.sleep(0.1)
    where = f"http://127.0.0.1:{port}{ready.path}" if port is not None else f"a port in {ready.port_file}"
    raise RuntimeError(f"{spec.name} was not ready ({where}) after {ready.timeout_s:.0f} s")


def stop(spec: ChildSpec, child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait up to the spec's timeout, then SIGKILL (a no-op for a child that has exited)."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=spec.stop_timeout_s)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0f s; killing pid %d", spec.name, spec.stop_timeout_s, child.pid)
        child.kill()
        child.wait()
