"""``smartcity api`` as a child process (uvicorn, as in production), for tests that run several replicas on one
shared state database: own work dir and log, a free loopback port, ready when ``/healthz`` answers, stop by PID."""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from smartcity.localservices.process import ManagedProcess, ServiceError, free_port


class ApiReplica(ManagedProcess):
    """One API process with ``env`` (``SMARTCITY_API_*``) in ``workdir`` (``api.log``)."""

    name = "api"

    def __init__(self, workdir: Path, env: Mapping[str, str], *, ca_file: Path | None = None) -> None:
        super().__init__(workdir, log_name="api.log", ready_timeout_s=60.0)
        self.env = dict(env)
        self.port: int | None = None
        self.scheme = "https" if "SMARTCITY_API_TLS_CERT_FILE" in self.env else "http"
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        """What a client trusts to reach this replica (the CA of its certificate, with HTTPS)."""

    @property
    def url(self) -> str:
        if self.port is None:
            raise ServiceError("the API has no port yet: start() it first")
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _choose_ports(self) -> None:
        self.port = free_port()

    def _ports_were_given(self) -> bool:
        return False

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "smartcity.cli", "api"]

    def _environment(self) -> Mapping[str, str]:
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("SMARTCITY_")}
        return {**inherited, **self.env, "SMARTCITY_API_HOST": "127.0.0.1", "SMARTCITY_API_PORT": str(self.port)}

    def _is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2.0, trust_env=False, verify=self.verify).status_code == 200
        except httpx.HTTPError:
            return False
