"""``smartcity gateway`` as a child process, the one wrapper that local runs, tests and benchmarks share.

It is a :class:`~smartcity.localservices.process.ManagedProcess`: own log file, readiness on ``/readyz``, stop
(SIGTERM) / kill (SIGKILL) by PID, restart with the same settings. The core only knows the command line and the
HTTP endpoints; it never imports the gateway component.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from smartcity.localservices.process import ManagedProcess, log_tail

METRICS_PREFIX = "smartcity_gateway_"


class GatewayProcess(ManagedProcess):
    """``smartcity gateway`` in ``workdir`` (``gateway.log``, ``spool/``), ready when ``/readyz`` answers 200.

    ``env`` holds the ``SMARTCITY_GATEWAY_*`` variables; the spool directory and ``HTTP_PORT=0`` are set here
    (the gateway writes the port it bound to ``spool/http.port``).
    """

    name = "gateway"

    def __init__(self, workdir: Path, env: Mapping[str, str], *, ready_timeout_s: float = 30.0) -> None:
        super().__init__(workdir, log_name="gateway.log", ready_timeout_s=ready_timeout_s)
        self.spool_dir = self.workdir / "spool"
        self.env = {
            **env,
            "SMARTCITY_GATEWAY_SPOOL_DIR": str(self.spool_dir),
            "SMARTCITY_GATEWAY_HTTP_PORT": "0",
        }
        self._http_port: int | None = None

    def _command(self) -> list[str]:
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
