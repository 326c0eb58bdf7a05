"""The bridges under test as subprocesses, shared by the gateway benchmark and the gateway's end-to-end tests.

:class:`GatewayProcess` runs ``smartcity gateway`` configured by environment variables; :class:`NaiveBridgeProcess`
runs the baseline bridge. Both are :class:`~smartcity.localservices.process.ManagedProcess` es: own log file,
bounded readiness wait, stop (SIGTERM) / kill (SIGKILL) by PID, restart with the same settings, and optionally
run under ``py-spy record``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from smartcity.localservices.process import ManagedProcess, log_tail

METRICS_PREFIX = "smartcity_gateway_"


class BridgeProcess(ManagedProcess):
    """A bridge under test, optionally run under ``py-spy record`` (py-spy cannot attach to this Python, but it
    can start it). While profiled, :attr:`pid` is py-spy's; :meth:`stop` signals the bridge itself so that it
    shuts down as usual and py-spy writes its samples when it exits."""

    def __init__(self, workdir: Path, *, log_name: str, ready_timeout_s: float, profile_to: Path | None) -> None:
        super().__init__(workdir, log_name=log_name, ready_timeout_s=ready_timeout_s)
        self.profile_to = profile_to

    def _bridge_command(self) -> list[str]:
        raise NotImplementedError

    def _command(self) -> list[str]:
        if self.profile_to is None:
            return self._bridge_command()
        spy = str(Path(sys.executable).parent / "py-spy")
        record = [spy, "record", "--format", "raw", "--rate", "100", "--output", str(self.profile_to)]
        return [*record, "--", *self._bridge_command()]

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.profile_to is not None and self.running:
            for child in _children(self.pid):
                os.kill(child, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.running and time.monotonic() < deadline:
                time.sleep(0.05)  # py-spy writes its samples once the bridge has exited
        super().stop(timeout_s)


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return children


class GatewayProcess(BridgeProcess):
    """``smartcity gateway`` in ``workdir`` (``gateway.log``, ``spool/``), ready when ``/readyz`` answers 200.

    ``env`` holds the ``SMARTCITY_GATEWAY_*`` variables; the spool directory and ``HTTP_PORT=0`` are set here
    (the gateway writes the port it bound to ``spool/http.port``).
    """

    name = "gateway"

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        *,
        ready_timeout_s: float = 30.0,
        profile_to: Path | None = None,
    ) -> None:
        super().__init__(workdir, log_name="gateway.log", ready_timeout_s=ready_timeout_s, profile_to=profile_to)
        self.spool_dir = self.workdir / "spool"
        self.env = {
            **env,
            "SMARTCITY_GATEWAY_SPOOL_DIR": str(self.spool_dir),
            "SMARTCITY_GATEWAY_HTTP_PORT": "0",
        }
        self._http_port: int | None = None

    def _bridge_command(self) -> list[str]:
        return [sys.executable, "-m", "smartcity.cli", "gateway"]

    def _environment(self) -> Mapping[str, str]:
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("SMARTCITY_")}
        return {**inherited, **self.env}

    def _prepare(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # A port file left by the previous run names a port that is closed now; wait for the new one.
        (self.spool_dir / "http.port").unlink(missing_ok=True)
        self._http_port = None

    def _is_ready(self) -> bool:
        try:
            return self._get("/readyz").status_code == 200
        except (httpx.HTTPError, OSError, ValueError):
            return False

    @property
    def http_url(self) -> str:
        if self._http_port is None:
            self._http_port = int((self.spool_dir / "http.port").read_text().strip())
        return f"http://127.0.0.1:{self._http_port}"

    def _get(self, path: str) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            return client.get(self.http_url + path)

    def metrics(self) -> dict[str, float]:
        """Current ``/metrics`` samples without the ``smartcity_gateway_`` prefix, keyed ``name`` or
        ``name{label=value,...}`` (labels sorted)."""
        response = self._get("/metrics")
        response.raise_for_status()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if not sample.name.startswith(METRICS_PREFIX):
                    continue
                name = sample.name.removeprefix(METRICS_PREFIX)
                if sample.labels:
                    name += "{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}"
                samples[name] = sample.value
        return samples

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


class NaiveBridgeProcess(BridgeProcess):
    """``python -m bench.baselines.naive_bridge``, ready once its log says it subscribed, or that the broker kept
    its session (then the subscription exists already, and the SUBACK may queue behind a backlog)."""

    name = "naive-bridge"

    def __init__(
        self, workdir: Path, args: Sequence[str], *, ready_timeout_s: float = 30.0, profile_to: Path | None = None
    ) -> None:
        super().__init__(workdir, log_name="naive-bridge.log", ready_timeout_s=ready_timeout_s, profile_to=profile_to)
        self.args = list(args)
        self._log_offset = 0

    def _bridge_command(self) -> list[str]:
        return [sys.executable, "-m", "bench.baselines.naive_bridge", *self.args]

    def _prepare(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0

    def _is_ready(self) -> bool:
        with self.log_path.open("rb") as log_file:
            log_file.seek(self._log_offset)
            text = log_file.read()
        return b"subscribed to" in text or b"session present: True" in text
