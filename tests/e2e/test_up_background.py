"""`smartcity up --detach`, `smartcity status` and `smartcity down` on a real (small) stack, and what `up` refuses
before it starts anything: a missing binary, a taken port, a data directory of another version, a running stack."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from smartcity.up_background import exited
from smartcity.up_preflight import (
    EXIT_INCOMPATIBLE,
    EXIT_MISSING_BINARY,
    EXIT_NOT_RUNNING,
    EXIT_PORT_IN_USE,
    FORMAT_FILE,
)
from smartcity.up_state import left_running, read_state
from smartcity.workdir_lock import EXIT_IN_USE

_SMALL = ["--devices=60", "--backfill=30m", "--seed=5"]


def _smartcity(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")} | (env or {})
    environment["COLUMNS"] = "160"
    return subprocess.run(
        [sys.executable, "-m", "smartcity.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


@pytest.mark.parametrize("detach", [[], ["--detach"]])
def test_up_refuses_before_starting_anything(tmp_path: Path, detach: list[str]) -> None:
    work = tmp_path / "var"
    missing = _smartcity("up", *detach, f"--workdir={work}", env={"SMARTCITY_UP_INFLUXD_BINARY": "/nope/influxd"})
    assert missing.returncode == EXIT_MISSING_BINARY, missing.stdout + missing.stderr
    assert "influxd is not installed at /nope/influxd" in missing.stdout
    assert not work.exists()  # nothing written, nothing started
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = _smartcity("up", *detach, f"--workdir={work}", f"--api-port={port}")
    assert in_use.returncode == EXIT_PORT_IN_USE, in_use.stdout + in_use.stderr
    assert f"port {port} (for the planning API) is in use" in in_use.stdout
    assert not work.exists()
    work.mkdir()
    (work / FORMAT_FILE).write_text("smartcity-up-workdir 99\n")
    newer = _smartcity("up", *detach, f"--workdir={work}")
    assert newer.returncode == EXIT_INCOMPATIBLE, newer.stdout + newer.stderr
    assert "holds data of a newer smartcity (work directory format 99" in " ".join(newer.stdout.split())
    assert [p.name for p in work.iterdir()] == [FORMAT_FILE]
    assert _smartcity("status", f"--workdir={work}").returncode == EXIT_NOT_RUNNING
    assert _smartcity("down", f"--workdir={work}").stdout.startswith("nothing runs in")


def test_detach_status_and_down(tmp_path: Path) -> None:
    work = tmp_path / "var"
    started = time.monotonic()
    up = _smartcity("up", "--detach", f"--workdir={work}", *_SMALL)
    assert up.returncode == 0, up.stdout + up.stderr
    state = read_state(work)
    assert state is not None
    assert state.api_url is not None
    try:
        assert f"city page  {state.api_url}/" in up.stdout
        assert "operator key, shown only now" in up.stdout
        key = up.stdout.split("(stored hashed): ")[1].split()[0]
        assert f"the city page as operator: {state.api_url}/#key={key}" in up.stdout
        assert key not in (work / "logs" / "up.log").read_text()  # shown once, to the one who started it
        ready_s = time.monotonic() - started
        assert httpx.get(f"{state.api_url}/", timeout=10).status_code == 200
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{state.api_url}/page/whoami", headers=headers, timeout=10).json()["role"] == "operator"
        again = _smartcity("up", "--detach", f"--workdir={work}", *_SMALL)
        assert again.returncode == EXIT_IN_USE, again.stdout + again.stderr
        status = _smartcity("status", f"--workdir={work}")
        assert status.returncode == 0, status.stdout + status.stderr
        for row in ("influxd", "mosquitto", "gateway", "rollup", "api", "points written", "dead letters by reason"):
            assert row in status.stdout
        assert "not answering" not in status.stdout
        assert f"{state.api_url}/docs" in status.stdout
        pids = left_running(work)
        assert set(pids) >= {"influxd", "mosquitto", "gateway", "rollup", "api", "simulator"}
    finally:
        down = _smartcity("down", f"--workdir={work}")
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"smartcity up (pid {state.pid}) stopped its processes in order" in down.stdout
    assert all(exited(pid) for pid in pids.values())
    assert exited(state.pid)
    assert read_state(work) is None
    assert _smartcity("status", f"--workdir={work}").returncode == EXIT_NOT_RUNNING
    assert ready_s < 120, ready_s


def test_down_stops_what_a_killed_up_left_running_newest_first(tmp_path: Path) -> None:
    work = tmp_path / "var"
    up = _smartcity("up", "--detach", f"--workdir={work}", *_SMALL)
    assert up.returncode == 0, up.stdout + up.stderr
    state = read_state(work)
    assert state is not None
    left = left_running(work)
    try:
        os.kill(state.pid, signal.SIGKILL)  # up dies; its children, in sessions of their own, stay
        deadline = time.monotonic() + 10
        while not exited(state.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        status = _smartcity("status", f"--workdir={work}")
        assert status.returncode == 1, status.stdout
        assert "processes it started still do" in status.stdout
    finally:
        down = _smartcity("down", f"--workdir={work}")
    assert down.returncode == 0, down.stdout + down.stderr
    stopped = [line.split(" (pid")[0] for line in down.stdout.splitlines() if "left by a killed" in line]
    assert stopped == list(reversed(left)), down.stdout
    assert stopped[0] == "simulator"
    assert stopped[-2:] == ["mosquitto", "influxd"]
    assert all(exited(pid) for pid in left.values())


def test_down_while_up_is_still_starting_stops_what_it_started(tmp_path: Path) -> None:
    work = tmp_path / "var"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    up = subprocess.Popen(
        [sys.executable, "-m", "smartcity.cli", "up", f"--workdir={work}", *_SMALL],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
    )
    try:
        deadline = time.monotonic() + 60
        while "influxd" not in left_running(work) and time.monotonic() < deadline:
            time.sleep(0.05)
        started = left_running(work)
        assert "influxd" in started
        assert read_state(work) is None  # not ready yet
        status = _smartcity("status", f"--workdir={work}")
        assert (status.returncode, "is starting or stopping" in status.stdout) in ((1, True), (0, False)), status.stdout
        down = _smartcity("down", f"--workdir={work}")
        assert down.returncode == 0, down.stdout + down.stderr
        assert f"smartcity up (pid {up.pid}) stopped its processes in order" in down.stdout
        assert up.wait(timeout=60) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert all(exited(pid) for pid in left_running(work).values())
    assert all(exited(pid) for pid in started.values())
