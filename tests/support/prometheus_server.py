"""A private Prometheus (Debian's ``prometheus`` binary) for tests: its own config, data dir and free loopback port,
scraping the given targets every half second; plus a small client for its HTTP query API.

Never the machine's own Prometheus service on 9090: the port is picked free, and only this PID is stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml  # type: ignore[import-untyped]

from smartcity.localservices.process import ManagedProcess, free_port

PROMETHEUS = "/usr/bin/prometheus"
SCRAPE_INTERVAL_MS = 500
"""How often this Prometheus scrapes (and evaluates): fast, so a test sees several samples within seconds."""


class PrometheusProcess(ManagedProcess):
    """``prometheus`` in ``workdir`` (``prometheus.yml``, ``data/``, ``prometheus.log``), ready on ``/-/ready``.

    ``jobs`` maps a job name to its ``host:port`` targets; ``rule_files`` are loaded as written.
    """

    name = "prometheus"

    def __init__(self, workdir: Path, jobs: Mapping[str, Sequence[str]], *, rule_files: Sequence[Path] = ()) -> None:
        super().__init__(workdir, log_name="prometheus.log", ready_timeout_s=30.0)
        self.jobs, self.rule_files = jobs, tuple(rule_files)
        self.port = 0

    def _choose_ports(self) -> None:
        self.port = free_port()

    def _ports_were_given(self) -> bool:
        return False

    def _prepare(self) -> None:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL_MS}ms", "evaluation_interval": f"{SCRAPE_INTERVAL_MS}ms"},
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": list(targets)}]}
                for job, targets in self.jobs.items()
            ],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def _command(self) -> list[str]:
        return [
            PROMETHEUS,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def _is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, expr: str) -> dict[str, Any]:
        """``/api/v1/query`` at now: the ``data`` of a successful answer (``resultType`` and ``result``)."""
        return self._api("/api/v1/query", {"query": expr})

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> dict[str, Any]:
        return self._api("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step_s})

    def targets_up(self) -> dict[str, str]:
        """Each active target's scrape URL -> its health (``up``, ``down``, ``unknown``)."""
        targets = self._api("/api/v1/targets", {})["activeTargets"]
        return {target["scrapeUrl"]: target["health"] for target in targets}

    def _api(self, path: str, params: Mapping[str, object]) -> dict[str, Any]:
        with httpx.Client(base_url=self.url, trust_env=False, timeout=10.0) as client:
            answer = client.get(path, params={key: str(value) for key, value in params.items()})
        body: dict[str, Any] = answer.json()
        if answer.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"Prometheus refused {params.get('query', path)!r}: {body.get('error', answer.text)}")
        data: dict[str, Any] = body["data"]
        return data
