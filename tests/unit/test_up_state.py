"""The running stack's file (up.json) and the processes the lock file says are left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from smartcity.up_state import StackState, left_running, read_state, remove_state, starting_up, write_state
from smartcity.workdir_lock import start_time


def _state(pid: int, start: int | None) -> StackState:
    return StackState(
        pid=pid,
        start=start,
        mqtt_port=1884,
        influx_url="http://127.0.0.1:8087",
        database="city",
        ports={"gateway": 9001, "api": 9004},
    )


def test_the_state_round_trips_and_names_the_urls(tmp_path: Path) -> None:
    assert read_state(tmp_path) is None
    state = _state(os.getpid(), start_time(os.getpid()))
    write_state(tmp_path, state)
    assert read_state(tmp_path) == state
    assert state.alive()
    assert state.urls() == [
        ("city page", "http://127.0.0.1:9004/"),
        ("API docs", "http://127.0.0.1:9004/docs"),
        ("API metrics", "http://127.0.0.1:9004/metrics"),
        ("gateway metrics", "http://127.0.0.1:9001/metrics"),
    ]
    remove_state(tmp_path)
    remove_state(tmp_path)
    assert read_state(tmp_path) is None
    (tmp_path / "up.json").write_text('{"pid": "x"')
    assert read_state(tmp_path) is None


def test_a_reused_pid_is_not_the_stack(tmp_path: Path) -> None:
    start = start_time(os.getpid())
    assert start is not None
    assert not _state(os.getpid(), start + 1).alive()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    assert not _state(int(gone.stdout), None).alive()


def test_left_running_lists_only_live_processes_with_their_start_time(tmp_path: Path) -> None:
    me = os.getpid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        record = {
            "pid": 1,
            "processes": {
                "influxd": {"pid": sleeper.pid, "start": start_time(sleeper.pid)},
                "gateway": {"pid": me, "start": (start_time(me) or 0) + 7},  # reused PID
                "api": {"pid": 999_999_999, "start": 5},
            },
        }
        (tmp_path / "up.lock").write_text(json.dumps(record))
        assert left_running(tmp_path) == {"influxd": sleeper.pid}
    finally:
        sleeper.kill()
        sleeper.wait()
    assert left_running(tmp_path) == {}
    assert left_running(tmp_path / "none") == {}


def test_a_starting_up_is_the_lock_files_holder_while_it_runs_as_smartcity_up(tmp_path: Path) -> None:
    code = "import time; time.sleep(30)"
    up = subprocess.Popen([sys.executable, "-c", code, "smartcity.cli", "up"])
    other = subprocess.Popen([sys.executable, "-c", code])
    try:
        for holder, expected in ((up.pid, up.pid), (other.pid, None), (999_999_999, None), (os.getpid(), None)):
            (tmp_path / "up.lock").write_text(json.dumps({"pid": holder, "processes": {}}))
            assert starting_up(tmp_path) == expected
    finally:
        for child in (up, other):
            child.kill()
            child.wait()
    assert starting_up(tmp_path / "none") is None
