"""One live stack per data directory: the lock refuses a second holder and processes a killed `up` left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartcity.workdir_lock import WorkdirInUse, WorkdirLock, start_time


def test_a_second_holder_is_refused_until_the_first_releases(tmp_path: Path) -> None:
    held = rf"in use by a running `smartcity up` \(pid {os.getpid()}\)"
    with WorkdirLock(tmp_path), pytest.raises(WorkdirInUse, match=held):
        WorkdirLock(tmp_path).acquire()
    with WorkdirLock(tmp_path) as again:
        again.record({"self": os.getpid()})
        recorded = json.loads((tmp_path / "up.lock").read_text())
        assert recorded["processes"]["self"] == {"pid": os.getpid(), "start": start_time(os.getpid())}


_HOLDER = """
import sys, time
from pathlib import Path
from smartcity.workdir_lock import WorkdirLock
WorkdirLock(Path(sys.argv[1])).acquire().record({"influxd": int(sys.argv[2])})
print("held", flush=True)
time.sleep(60)
"""


def test_processes_left_by_a_killed_up_are_named(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path), str(sleeper.pid)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        holder.kill()  # SIGKILL: the kernel drops the lock, the record of what it started stays
        holder.wait()
        with pytest.raises(WorkdirInUse, match=rf"left running when it was killed: influxd \(pid {sleeper.pid}\)"):
            WorkdirLock(tmp_path).acquire()
    finally:
        for process in (holder, sleeper):
            process.kill()
            process.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    WorkdirLock(tmp_path).acquire().release()


def test_a_reused_pid_is_not_taken_for_a_leftover(tmp_path: Path) -> None:
    own = {"pid": os.getpid(), "start": (start_time(os.getpid()) or 0) + 1}
    (tmp_path / "up.lock").write_text(json.dumps({"pid": 1, "processes": {"influxd": own}}))
    WorkdirLock(tmp_path).acquire().release()
