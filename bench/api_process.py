"""``smartcity api`` as a child process for the benchmark (uvicorn, as in production), and its planner key.

A :class:`~smartcity.localservices.process.ManagedProcess`: own log file, stop (SIGTERM) by PID, ready when
``/readyz`` answers 200 and the last-value cache has been filled (``/v1/latest`` answers 200, not 503).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from smartcity.localservices.process import ManagedProcess, ServiceError, free_port

LATEST_WINDOW_S = 31 * 86_400
"""The API's longest latest window: the cached data set's raw hours stay "latest" for weeks."""


def api_env(
    city_file: Path, influx_url: str, database: str, state_file: Path, *, tree: Path | None = None, **extra: str
) -> dict[str, str]:
    """The ``SMARTCITY_API_*`` settings of a benchmarked API (its defaults, but the latest window); with ``tree``
    the API runs from that checkout (``PYTHONPATH``)."""
    return ({"PYTHONPATH": str(tree)} if tree is not None else {}) | {
        "SMARTCITY_API_CITY_FILE": str(city_file),
        "SMARTCITY_API_STATE_FILE": str(state_file),
        "SMARTCITY_API_INFLUX__URL": influx_url,
        "SMARTCITY_API_INFLUX__DATABASE": database,
        "SMARTCITY_API_LATEST_WINDOW_S": str(LATEST_WINDOW_S),
        **{f"SMARTCITY_API_{key.upper()}": value for key, value in extra.items()},
    }


def _inherited() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("SMARTCITY_")}


def create_planner_key(env: Mapping[str, str]) -> str:
    """``smartcity api keys create --role planner``; returns the key it prints (once)."""
    done = subprocess.run(
        [sys.executable, "-m", "smartcity.cli", "api", "keys", "create", "--role", "planner", "--name", "api-bench"],
        env={**_inherited(), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise ServiceError(f"smartcity api keys create failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[-1]


class ApiProcess(ManagedProcess):
    """``smartcity api`` in ``workdir`` (``api.log``) on a free loopback port."""

    name = "api"

    def __init__(self, workdir: Path, env: Mapping[str, str], key: str, probe: str) -> None:
        super().__init__(workdir, log_name="api.log", ready_timeout_s=180.0)
        self.env = dict(env)
        self._key = key
        self._probe = probe
        """A ``/v1/latest`` URL: 503 until the last-value cache is filled."""
        self._port: int | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise ServiceError("the API has no port yet: start() it first")
        return f"http://127.0.0.1:{self._port}"

    def _choose_ports(self) -> None:
        self._port = free_port()

    def _ports_were_given(self) -> bool:
        return False  # ours to choose: a port taken before uvicorn bound it is retried on a fresh one

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "smartcity.cli", "api"]

    def _environment(self) -> Mapping[str, str]:
        return {**_inherited(), **self.env, "SMARTCITY_API_HOST": "127.0.0.1", "SMARTCITY_API_PORT": str(self._port)}

    def _is_ready(self) -> bool:
        try:
            with httpx.Client(base_url=self.url, trust_env=False, timeout=5.0) as client:
                if client.get("/readyz").status_code != 200:
                    return False
                return client.get(self._probe, headers={"Authorization": f"Bearer {self._key}"}).status_code == 200
        except httpx.HTTPError:
            return False
