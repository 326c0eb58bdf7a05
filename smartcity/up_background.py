"""A stack in the background: ``smartcity up --detach``, ``smartcity status`` and ``smartcity down``.

``--detach`` runs the same checks as ``up`` (so a missing binary, a taken port, a data directory of another
version or a running stack fail here, with their exit codes, before anything starts), then starts ``smartcity up``
in a session of its own with its output in ``<workdir>/logs/up.log`` and a pipe on which it reports once every
process is ready: the URLs and, on first start, the operator key (so the key is shown once, here, and is not in
the log). When the pipe closes without that report, ``up`` has failed: its exit code is ours, with its log's tail.

``status`` reads ``<workdir>/up.json`` (:mod:`smartcity.up_state`) and looks at every piece once. ``down`` sends
SIGTERM to the ``up`` that owns the stack (it stops its processes in order and keeps the data) and waits for it;
if that ``up`` was killed, it stops the processes the lock file says it started and that still run, newest first.
Only PIDs whose kernel start time matches the record are signalled.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from smartcity.up_state import left_running, process_running, read_state, starting_up
from smartcity.workdir_lock import EXIT_IN_USE, start_time

READY_TIMEOUT_S = 900.0
"""How long ``--detach`` waits for the stack (a first start generates the city and back-fills its history)."""
STOP_TIMEOUT_S = 180.0
LEFTOVER_STOP_S = 30.0


class BackgroundError(RuntimeError):
    """The detached ``up`` did not come up; ``exit_code`` is its own."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def detach(up_args: Sequence[str], workdir: Path, *, timeout_s: float = READY_TIMEOUT_S) -> dict[str, str]:
    """Start ``smartcity up <up_args>`` in the background; its ready report (``api_url``, ``operator_key`` on
    first start, ``log``). Raises :class:`BackgroundError` when it exits or does not report within
    ``timeout_s``."""
    running = read_state(workdir)
    if running is not None and running.alive():
        message = f"a stack already runs in {workdir} (pid {running.pid}): `smartcity down` stops it"
        raise BackgroundError(message, EXIT_IN_USE)
    log_path = workdir / "logs" / "up.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    try:
        with log_path.open("ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "smartcity.cli", "up", *up_args, "--ready-fd", str(write_end)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(write_end,),
            )
        os.close(write_end)
        write_end = -1
        report = _read_report(read_end, timeout_s)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    if report is None:
        try:
            code = child.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)  # it did not report in time: stop it, in order, before failing
            code = child.wait()
            raise BackgroundError(f"the stack was not ready after {timeout_s:.0f} s:\n{_tail(log_path)}", 1) from None
        raise BackgroundError(f"`smartcity up` exited with code {code}:\n{_tail(log_path)}", code or 1)
    return report | {"log": str(log_path), "pid": str(child.pid)}


def _read_report(fd: int, timeout_s: float) -> dict[str, str] | None:
    deadline = time.monotonic() + timeout_s
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            break
        chunk = os.read(fd, 65_536)
        if not chunk:
            break
        data += chunk
    try:
        report = json.loads(data)
    except ValueError:
        return None
    return {str(k): str(v) for k, v in report.items()} if isinstance(report, dict) else None


def report_ready(fd: int, report: dict[str, str | None]) -> None:
    """The detached ``up``'s side: write the report and close the pipe."""
    with os.fdopen(fd, "w", encoding="utf-8") as pipe:
        pipe.write(json.dumps({k: v for k, v in report.items() if v is not None}))


def exited(pid: int, start: int | None = None) -> bool:
    """The process has exited: no such PID, another process under it, or a zombie not yet reaped by its parent."""
    return not process_running(pid, start)


def _wait_gone(pid: int, start: int | None, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exited(pid, start):
            return True
        time.sleep(0.1)
    return exited(pid, start)


def stop_stack(workdir: Path, *, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop the stack of ``workdir``; what was stopped, as lines to show (empty: nothing ran)."""
    state = read_state(workdir)
    done: list[str] = []
    owner = (state.pid, state.start) if state is not None and state.alive() else None
    if owner is None and (pid := starting_up(workdir)) is not None:
        owner = (pid, start_time(pid))  # still starting: it stops what it has started, in order, like Ctrl-C
    if owner is not None:
        pid, start = owner
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, start, timeout_s):
            raise BackgroundError(f"`smartcity up` (pid {pid}) did not stop within {timeout_s:.0f} s", 1)
        done.append(f"smartcity up (pid {pid}) stopped its processes in order")
    for name, pid in reversed(list(left_running(workdir).items())):
        start = start_time(pid)
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, start, LEFTOVER_STOP_S):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, start, 5.0)
        done.append(f"{name} (pid {pid}), left by a killed `smartcity up`, stopped")
    return done
