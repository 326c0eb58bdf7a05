"""The running stack, as a file: ``<workdir>/up.json``, written by ``smartcity up`` once every process is ready and
removed when it has stopped them all. ``smartcity status`` reads it for the endpoints to ask, ``smartcity down``
for the PID to stop (with its kernel start time, so a PID reused by another program is never signalled).

The PIDs of the processes ``up`` started are in the work directory's lock file (:mod:`smartcity.workdir_lock`):
if ``up`` itself was killed, ``down`` stops those, in the reverse of the order they were started.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartcity.workdir_lock import start_time

STATE_FILE = "up.json"


@dataclass(frozen=True, slots=True)
class StackState:
    """Where each piece of a running stack answers, and who runs it."""

    pid: int
    """The ``smartcity up`` process that owns the stack."""
    start: int | None
    """Its kernel start time (see :func:`smartcity.workdir_lock.start_time`)."""
    mqtt_port: int
    influx_url: str
    database: str
    ports: dict[str, int] = field(default_factory=dict)
    """HTTP port of each child that has one (gateway, rollup, quality, api)."""
    log_dir: str = ""

    @property
    def api_url(self) -> str | None:
        port = self.ports.get("api")
        return f"http://127.0.0.1:{port}" if port is not None else None

    def urls(self) -> list[tuple[str, str]]:
        """(what, URL) a person opens, in the order they are shown."""
        out = []
        if self.api_url is not None:
            out += [
                ("city page", f"{self.api_url}/"),
                ("API docs", f"{self.api_url}/docs"),
                ("API metrics", f"{self.api_url}/metrics"),
            ]
        for name in ("gateway", "rollup", "quality"):
            if name in self.ports:
                out.append((f"{name} metrics", f"http://127.0.0.1:{self.ports[name]}/metrics"))
        return out

    def alive(self) -> bool:
        """The owning ``up`` still runs (the same process: same PID and start time)."""
        return process_running(self.pid, self.start)


def process_running(pid: int, start: int | None = None) -> bool:
    """``pid`` runs and is the process that started at ``start`` (None: any); a zombie (exited, not yet reaped by
    its parent) does not run."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat[stat.rindex(")") + 2 :].startswith(("Z", "X")):
        return False
    now = start_time(pid)
    return now is not None and (start is None or now == start)


def write_state(workdir: Path, state: StackState) -> None:
    path = workdir / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(state), indent=1), encoding="utf-8")
    os.replace(temporary, path)  # a reader sees the old file or the new one, never half of one


def read_state(workdir: Path) -> StackState | None:
    """The recorded stack (None: none recorded, or the file is not one of ours)."""
    try:
        data: Any = json.loads((workdir / STATE_FILE).read_text(encoding="utf-8"))
        return StackState(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove_state(workdir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (workdir / STATE_FILE).unlink()


def _lock_record(workdir: Path) -> dict[str, Any]:
    try:
        record: Any = json.loads((workdir / "up.lock").read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def starting_up(workdir: Path) -> int | None:
    """The PID of a ``smartcity up`` that holds the work directory but has not written ``up.json`` yet (it is
    starting, or stopping): the lock file's holder, if that process still runs and is a ``smartcity up``."""
    pid = _lock_record(workdir).get("pid")
    if not isinstance(pid, int) or pid == os.getpid() or not process_running(pid):
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    is_smartcity = b"smartcity.cli" in argv or any(arg.endswith(b"/smartcity") for arg in argv)
    return pid if is_smartcity and b"up" in argv else None


def left_running(workdir: Path) -> dict[str, int]:
    """Processes recorded in the lock file that still run (name -> PID, in the order they were started)."""
    processes = _lock_record(workdir).get("processes")
    if not isinstance(processes, dict):
        return {}
    out: dict[str, int] = {}
    for name, entry in processes.items():
        if isinstance(entry, dict) and isinstance(entry.get("pid"), int):
            start = entry.get("start")
            if process_running(entry["pid"], start if isinstance(start, int) else None):
                out[str(name)] = entry["pid"]
    return out
