"""The whole path, as `make run` starts it: simulated devices -> Mosquitto (accounts + ACLs) -> gateway -> InfluxDB,
the roll-up worker and the planning API beside them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from smartcity.up import UpSettings, gateway_counters, platform, stored_points
from smartcity.workdir_lock import EXIT_IN_USE, WorkdirLock, start_time
from tests.support.deploy_settings import declared_children


def test_platform_streams_the_city_into_influxdb_and_stops_cleanly(tmp_path: Path) -> None:
    settings = UpSettings(workdir=tmp_path / "var", devices=150, seed=3, backfill="2h", refresh_s=1.0)
    with platform(settings) as running:
        deadline = time.monotonic() + 90
        points: dict[str, int] = {}
        while time.monotonic() < deadline:
            points = stored_points(running.influxd.url, settings.database)
            # broadband devices write JSON readings, narrowband ones SenML through the network server:
            # parking bays are narrowband, traffic counters broadband in the generated city
            if points.get("parking", 0) > 0 and points.get("traffic", 0) > 0 and sum(points.values()) > 2_000:
                break
            time.sleep(1)
        children = dict(running.children)
        assert running.gateway_http_port is not None
        counters = gateway_counters(running.gateway_http_port)
        # The planning API answers with the operator key created on first start; the roll-up worker is ready.
        assert running.operator_key is not None
        assert running.api_url is not None
        auth = {"Authorization": f"Bearer {running.operator_key}"}
        districts = httpx.get(f"{running.api_url}/v1/districts", headers=auth, timeout=10).json()
        assert len(districts["items"]) >= 1, districts
        latest = f"{running.api_url}/v1/latest?district={districts['items'][0]['id']}"
        assert httpx.get(latest, timeout=10).status_code == 401  # planner data: a key is needed
        assert httpx.get(latest, headers=auth, timeout=10).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{running.ports['rollup']}/readyz", timeout=10).status_code == 200
        assert set(children) == {"gateway", "rollup", "quality", "api", "simulator"}
        assert all(child.poll() is None for child in children.values()), "every child keeps running"
    assert points.get("parking", 0) > 0, points
    assert points.get("traffic", 0) > 0, points
    assert sum(points.values()) > 2_000, points
    assert all(child.returncode == 0 for child in children.values()), {n: c.returncode for n, c in children.items()}
    assert not running.mosquitto.running
    assert not running.influxd.running
    assert (tmp_path / "var" / "mosquitto-auth" / "acl").is_file()
    # no fault was injected, so nothing may be dead-lettered (device accounts, topics and payloads all valid)
    assert counters["dead-lettered"] == 0, counters
    assert counters["points written"] >= sum(points.values())


def _processes() -> frozenset[str]:
    """Every process `up` records: the broker, the database and the children it declares as data."""
    return frozenset({"influxd", "mosquitto"} | {spec.name for spec in declared_children()})


_PROCESSES = _processes()


def _up(workdir: Path, log: IO[str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "smartcity.cli", "up", "--devices", "40", "--backfill", "", "--workdir"]
    env = {**os.environ, "SMARTCITY_UP_REFRESH_S": "1"}
    return subprocess.Popen([*command, str(workdir)], stdout=log, stderr=subprocess.STDOUT, text=True, env=env)


def _started(workdir: Path, up: subprocess.Popen[str], timeout_s: float = 90) -> dict[str, int]:
    """The PIDs `up` recorded in its lock file, once all its processes run."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and up.poll() is None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            processes = json.loads((workdir / "up.lock").read_text())["processes"]
            if set(processes) == _PROCESSES:
                return {name: entry["pid"] for name, entry in processes.items()}
        time.sleep(0.2)
    raise AssertionError(f"smartcity up did not start {sorted(_PROCESSES)} (exit code {up.poll()})")


def test_sighup_stops_everything_and_a_live_data_directory_is_refused(tmp_path: Path) -> None:
    workdir, out = tmp_path / "var", tmp_path / "up.out"
    with out.open("w") as log:
        up = _up(workdir, log)
        pids: dict[str, int] = {}
        try:
            pids = _started(workdir, up)
            second = subprocess.run(
                [sys.executable, "-m", "smartcity.cli", "up", "--workdir", str(workdir)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            time.sleep(2)  # at least one status line (refresh 1 s)
            up.send_signal(signal.SIGHUP)
            assert up.wait(timeout=90) == 0, out.read_text()
        finally:
            if up.poll() is None:
                up.kill()
                up.wait()
            for pid in pids.values():  # only if the test failed: nothing may outlive it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert second.returncode == EXIT_IN_USE, second.stdout + second.stderr
    assert f"in use by a running `smartcity up` (pid {up.pid})" in " ".join((second.stdout + second.stderr).split())
    assert set(pids) == _PROCESSES
    assert {"influxd", "mosquitto", "gateway", "rollup", "quality", "api", "simulator"} <= _PROCESSES
    assert {name: pid for name, pid in pids.items() if start_time(pid) is not None} == {}
    WorkdirLock(workdir).acquire().release()  # unlocked
    text = out.read_text()
    status_line = r"^up \d+ s: all services healthy; devices online \d+, received [\d,]+"
    assert len(re.findall(status_line, text, re.MULTILINE)) >= 2, text  # plain lines, periodic
    assert "SIGHUP: stopped" in " ".join(text.split()), text
