"""A private server process started from a binary: own work dir, log file, bounded readiness wait, stop by PID.

Shared by :mod:`smartcity.localservices.mosquitto` and :mod:`smartcity.localservices.influxd`.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

log = logging.getLogger(__name__)

_LOG_TAIL_LINES = 40
_PORT_RETRIES = 3
_ADDRESS_IN_USE = ("address already in use",)


class ServiceError(RuntimeError):
    """A local service did not start, died, or could not be stopped. The message ends with its log's tail."""


def free_port() -> int:
    """A TCP port that is free on both 127.0.0.1 and ::1 right now.

    The kernel picks an ephemeral port on 127.0.0.1; it is kept only if the same number binds on ::1 too,
    because the broker listens on both with one port. Another process can still take it before the server
    binds it: the services retry with a fresh port when that happens.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind(("127.0.0.1", 0))
            port: int = v4.getsockname()[1]
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as v6:
                try:
                    v6.bind(("::1", port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        continue
                    raise
            return port
    raise ServiceError("no TCP port is free on both 127.0.0.1 and ::1 after 100 attempts")


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist yet)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """Base class: subclasses write their config in :meth:`_prepare`, name their command and say when they
    are ready. Started processes are tracked so that they are killed at interpreter exit if nobody stopped
    them (a crashed test run must not leave servers behind on a shared machine)."""

    name = "service"

    def __init__(self, workdir: Path, *, log_name: str, ready_timeout_s: float = 30.0) -> None:
        self.workdir = Path(workdir).resolve()
        self.log_path = self.workdir / log_name
        self.ready_timeout_s = ready_timeout_s
        self._popen: subprocess.Popen[bytes] | None = None
        self._last_pid: int | None = None
        self._ports_chosen = False
        self._log_offset = 0

    # -- subclass hooks -------------------------------------------------------------------------------------
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Create directories and write the config file (called before every start)."""

    def _choose_ports(self) -> None:
        """Pick free ports for whatever was not given explicitly (only before the first start)."""

    def _ports_were_given(self) -> bool:
        return True

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _environment(self) -> Mapping[str, str] | None:
        return None

    def _after_spawn(self, pid: int) -> None:
        """Adjust the fresh process (limits); it is already running."""

    # -- public surface -------------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        """PID of the running process, or of the last one started (so a test can check that it is gone)."""
        if self._last_pid is None:
            raise ServiceError(f"{self.name} was never started")
        return self._last_pid

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> Self:
        """Start the process and wait until it is ready; raises :class:`ServiceError` with the log's tail."""
        if self.running:
            raise ServiceError(f"{self.name} is already running (pid {self.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        first_start = not self._ports_chosen
        if first_start:
            self._choose_ports()
            self._ports_chosen = True
        attempts = _PORT_RETRIES if first_start and not self._ports_were_given() else 1
        for attempt in range(1, attempts + 1):
            try:
                self._start_once()
                return self
            except ServiceError as exc:
                # Ports come from free_port(), which cannot reserve them; another process may have taken one
                # in between. Only then is a retry on fresh ports the right answer.
                lost_race = any(marker in str(exc).lower() for marker in _ADDRESS_IN_USE)
                if not lost_race or attempt == attempts:
                    raise
                log.warning("%s: port taken before it could bind, retrying on fresh ports", self.name)
                self._choose_ports()
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL. A no-op when not running."""
        popen = self._popen
        if popen is None:
            return
        code = popen.poll()
        if code is not None:
            # It died on its own since it was started: worth a line when a fault test wonders why.
            log.warning(
                "%s (pid %d) had already exited with code %d; see %s", self.name, popen.pid, code, self.log_path
            )
        else:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM for %.0f s, killing it", self.name, popen.pid, timeout_s)
                popen.kill()
                popen.wait()
        self._forget()

    def kill(self) -> None:
        """SIGKILL (no chance to flush anything) and reap the process."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            popen.kill()
        popen.wait()
        self._forget()

    def restart(self) -> Self:
        """Stop (gracefully) and start again with the same ports, config and data directories."""
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------------------------
    def _start_once(self) -> None:
        self._prepare()
        with self.log_path.open("ab") as log_file:
            self._write_marker(log_file)
            self._log_offset = log_file.tell()
            popen = subprocess.Popen(
                self._command(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                # Its own session: a Ctrl-C in the terminal reaches us, and we stop the server in order.
                start_new_session=True,
            )
        self._popen = popen
        self._last_pid = popen.pid
        _live.add(self)
        self._after_spawn(popen.pid)
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            code = popen.poll()
            if code is not None:
                self._forget()
                raise ServiceError(
                    f"{self.name} exited with code {code} before it was ready; {self.log_path}:\n" + self._recent_log()
                )
            if self._is_ready():
                log.info("%s ready (pid %d)", self.name, popen.pid)
                return
            if time.monotonic() > deadline:
                self.kill()
                raise ServiceError(
                    f"{self.name} was not ready after {self.ready_timeout_s:.0f} s; {self.log_path}:\n"
                    + self._recent_log()
                )
            time.sleep(0.05)

    def log_since_start(self) -> str:
        """What the current (or last) process wrote to the log file: readiness checks look for their line here,
        because an open port alone may belong to somebody else's server."""
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._log_offset)
                return log_file.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _recent_log(self) -> str:
        # Only this start's lines: an earlier failure in the same log must not be reported (or retried) again.
        lines = self.log_since_start().splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join(lines) if lines else log_tail(self.log_path)

    def _write_marker(self, log_file: IO[bytes]) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        log_file.write(f"--- {stamp} starting {self.name}: {' '.join(self._command())}\n".encode())
        log_file.flush()

    def _forget(self) -> None:
        self._popen = None
        _live.discard(self)


def tcp_accepts(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when something accepts a TCP connection on (host, port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect((host, port))
        except OSError:
            return False
    return True


_live: set[ManagedProcess] = set()


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_live):
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGKILL)
