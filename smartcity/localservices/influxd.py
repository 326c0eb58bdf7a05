"""A private InfluxDB 1.x server: config generated from ``influxd config`` with every directory under the work
dir, every bind address on loopback, reporting and self-monitoring off."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx

from smartcity.localservices.process import ManagedProcess, ServiceError, free_port

INFLUXD_BINARY = Path("/usr/bin/influxd")

_SECTION = re.compile(r"^\s*\[\[?([A-Za-z0-9_-]+)\]\]?\s*$")
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_-]+)\s*=")
TomlValue = str | bool | int


@functools.cache
def _default_config(binary: Path) -> str:
    try:
        done = subprocess.run([str(binary), "config"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceError(f"cannot read the default configuration with '{binary} config': {exc}") from exc
    return done.stdout.decode()


def _toml(value: TomlValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a TOML basic string is a JSON string for the paths and addresses used here


def rewrite_config(default: str, overrides: Mapping[tuple[str, str], TomlValue]) -> str:
    """Set ``overrides[(section, key)]`` in a TOML config printed by ``influxd config`` (section ``""`` is the
    top level; ``[[graphite]]`` is section ``graphite``). A key missing from its section is added to it; a
    missing section is an error, because that means a different influxd than the one this was written for."""
    pending = dict(overrides)
    out: list[str] = []
    section = ""

    def flush(section_name: str) -> None:
        for (sec, key), value in list(pending.items()):
            if sec == section_name:
                out.append(f"  {key} = {_toml(value)}" if sec else f"{key} = {_toml(value)}")
                del pending[(sec, key)]

    for line in default.splitlines():
        header = _SECTION.match(line)
        if header:
            flush(section)
            section = header.group(1)
            out.append(line)
            continue
        key = _KEY.match(line)
        if key and (section, key.group(2)) in pending:
            out.append(f"{key.group(1)}{key.group(2)} = {_toml(pending.pop((section, key.group(2))))}")
            continue
        out.append(line)
    flush(section)
    if pending:
        missing = ", ".join(f"[{sec}] {key}" for sec, key in pending)
        raise ServiceError(f"influxd config has no section for: {missing}")
    return "\n".join(out) + "\n"


class InfluxdProcess(ManagedProcess):
    """One influxd in ``workdir`` (``influxd.conf``, ``influxd.log``, ``meta/``, ``data/``, ``wal/``).

    HTTP on ``127.0.0.1:port``, the backup/restore RPC service on another free loopback port. Data lives
    in the work dir, so :meth:`restart` (or :meth:`kill` then :meth:`start`) keeps it.
    """

    name = "influxd"

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        config_overrides: Mapping[tuple[str, str], TomlValue] | None = None,
        binary: Path = INFLUXD_BINARY,
        ready_timeout_s: float = 60.0,
    ) -> None:
        super().__init__(workdir, log_name="influxd.log", ready_timeout_s=ready_timeout_s)
        self._given_port = port
        self._port = port
        self._rpc_port: int | None = None
        self.binary = binary
        self.config_overrides = dict(config_overrides or {})
        """Extra ``(section, key): value`` settings applied last, e.g. ``{("http", "max-body-size"): 1000}``."""
        self.config_path = self.workdir / "influxd.conf"

    @property
    def port(self) -> int:
        """HTTP API port (chosen at the first start unless given)."""
        if self._port is None:
            raise ServiceError("influxd has no port yet: start() it first")
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the v1 HTTP API, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def rpc_address(self) -> str:
        """``host:port`` of the RPC service that ``influxd backup`` and ``influxd restore`` talk to."""
        if self._rpc_port is None:
            raise ServiceError("influxd has no RPC port yet: start() it first")
        return f"127.0.0.1:{self._rpc_port}"

    def _choose_ports(self) -> None:
        if self._given_port is None:
            self._port = free_port()
        self._rpc_port = free_port()
        while self._rpc_port == self._port:
            self._rpc_port = free_port()

    def _ports_were_given(self) -> bool:
        # The RPC port is always ours to choose, so a lost race is worth a retry even with a given HTTP port;
        # a given HTTP port that is taken fails the same way three times and then reports it.
        return False

    def render_config(self) -> str:
        """The complete influxd.conf for this instance."""
        default = _default_config(self.binary)
        overrides: dict[tuple[str, str], TomlValue] = {
            ("", "bind-address"): f"127.0.0.1:{self._rpc_port}",
            ("meta", "dir"): str(self.workdir / "meta"),
            ("data", "dir"): str(self.workdir / "data"),
            ("data", "wal-dir"): str(self.workdir / "wal"),
            ("data", "query-log-enabled"): False,
            # Hostile tag values from property tests and 100k-device cities must not hit the default caps.
            ("data", "max-series-per-database"): 0,
            ("data", "max-values-per-tag"): 0,
            ("monitor", "store-enabled"): False,
            ("http", "bind-address"): f"127.0.0.1:{self.port}",
            ("http", "log-enabled"): False,
            ("http", "bind-socket"): str(self.workdir / "influxd.sock"),
            ("logging", "suppress-logo"): True,
        }
        # Upstream prints 'reporting-disabled = false'; Debian's build prints 'reporting-enabled = false'.
        if re.search(r"^reporting-enabled\s*=", default, re.MULTILINE):
            overrides[("", "reporting-enabled")] = False
        else:
            overrides[("", "reporting-disabled")] = True
        overrides.update(self.config_overrides)
        return rewrite_config(default, overrides)

    def _prepare(self) -> None:
        self.config_path.write_text(self.render_config())

    def _command(self) -> list[str]:
        return [str(self.binary), "run", "-config", str(self.config_path)]

    def _environment(self) -> Mapping[str, str]:
        # influxd lets INFLUXDB_* variables override its config file; a stray one in the caller's environment
        # (INFLUXDB_HTTP_BIND_ADDRESS, say) would otherwise make this private instance not private.
        return {key: value for key, value in os.environ.items() if not key.startswith("INFLUXDB_")}

    def _is_ready(self) -> bool:
        # The log line proves that *this* process bound the port; /ping then proves that it serves.
        if f"addr=127.0.0.1:{self.port}" not in self.log_since_start():
            return False
        try:
            with httpx.Client(trust_env=False, timeout=1.0) as client:
                return client.get(f"{self.url}/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def __repr__(self) -> str:
        return f"InfluxdProcess(port={self._port}, workdir={self.workdir})"
