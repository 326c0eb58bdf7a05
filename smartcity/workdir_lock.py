"""One live stack per data directory: ``smartcity up`` holds an exclusive ``flock`` on ``<workdir>/up.lock``.

A second ``up`` on the same directory would start a second broker and database on the same data files. The lock
is the kernel's: it is released when ``up`` exits however it exits (even SIGKILL), so a stale lock cannot block a
later run. What a SIGKILL leaves behind are the children, which run in sessions of their own; to catch those the
lock file records the PID and kernel start time of every process ``up`` started, and a new ``up`` refuses to start
while one of them still runs (a PID reused by an unrelated process has another start time and is ignored).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

EXIT_IN_USE = 3
"""Exit code of ``smartcity up`` when its data directory is in use."""


class WorkdirInUse(RuntimeError):
    """The data directory is used by a live stack; the message says by whom and what to do."""


def start_time(pid: int) -> int | None:
    """The kernel's start time of a process (clock ticks since boot), or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: count fields after its closing one
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


class WorkdirLock:
    """Held from before anything is written to the work directory until everything has stopped."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.path = workdir / "up.lock"
        self._fd: int | None = None

    def acquire(self) -> Self:
        """Take the lock or raise :class:`WorkdirInUse`."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd).get("pid")
            os.close(fd)
            who = f" (pid {holder})" if isinstance(holder, int) else ""
            how = f"Ctrl-C in its terminal, or kill {holder}" if who else "Ctrl-C in its terminal"
            raise WorkdirInUse(
                f"{self.workdir} is in use by a running `smartcity up`{who}: stop it first ({how}), "
                "or give this run another --workdir"
            ) from None
        left = _still_running(_read(fd))
        if left:
            os.close(fd)
            names = ", ".join(f"{name} (pid {pid})" for name, pid in left.items())
            raise WorkdirInUse(
                f"{self.workdir} is still used by processes that an earlier `smartcity up` left running when it "
                f"was killed: {names}; stop them (kill {' '.join(str(pid) for pid in left.values())}) and run again"
            )
        self._fd = fd
        self.record({})
        return self

    def record(self, processes: Mapping[str, int]) -> None:
        """Write who holds the lock and the PIDs of the processes it started (name -> pid)."""
        if self._fd is None:
            raise RuntimeError("the work directory lock is not held")
        entries = {name: {"pid": pid, "start": start_time(pid)} for name, pid in processes.items()}
        data = json.dumps({"pid": os.getpid(), "processes": entries}, indent=1).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Forget the processes (they have stopped) and drop the lock."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.record({})
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 65_536, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _still_running(record: Mapping[str, Any]) -> dict[str, int]:
    processes = record.get("processes")
    if not isinstance(processes, dict):
        return {}
    left: dict[str, int] = {}
    for name, entry in processes.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("pid"), int):
            continue
        pid, started = entry["pid"], entry.get("start")
        now = start_time(pid)
        if now is not None and (started is None or now == started):
            left[str(name)] = pid
    return left
