"""A private PostgreSQL (Debian's ``postgresql`` 15 binaries) for tests: a cluster made by ``initdb`` in a directory
of its own, ``postgres`` on a free loopback port with its Unix socket in that directory, stopped by its PID.

Never the machine's own cluster on 5432: the port is picked free, the data and socket directories are private,
and only this process is signalled. PostgreSQL refuses to run as root; when the tests run as root the server runs
as the ``postgres`` account (``setpriv``, which execs, so the PID is the server's own), and its directory lives in
a fresh ``/tmp`` directory that account may enter (pytest's ``tmp_path`` is root's alone).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg

from smartcity.localservices.process import ManagedProcess, ServiceError, free_port

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "smartcity"
"""The cluster's superuser (trust authentication on loopback: the cluster is private and short-lived)."""


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


class PostgresProcess(ManagedProcess):
    """``postgres`` with its data in ``workdir/data`` and its socket in ``workdir``, on 127.0.0.1:``port``."""

    name = "postgres"

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        super().__init__(workdir, log_name="postgres.log", ready_timeout_s=30.0)
        self.port = port or 0
        self._given = port is not None

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def _ports_were_given(self) -> bool:
        return self._given

    def _choose_ports(self) -> None:
        if not self._given:
            self.port = free_port()

    def _prepare(self) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.workdir, account.pw_uid, account.pw_gid)
            if self.log_path.exists():
                os.chown(self.log_path, account.pw_uid, account.pw_gid)
        if (self.data_dir / "PG_VERSION").exists():
            return
        done = subprocess.run(
            [*_run_as(), str(BIN / "initdb"), "-D", str(self.data_dir), "-U", USER, "--auth=trust", "-E", "UTF8"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise ServiceError(f"initdb failed with code {done.returncode}:\n{done.stdout}\n{done.stderr}")

    def _command(self) -> list[str]:
        return [
            *_run_as(),
            str(BIN / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.workdir}",
            "-c",
            "fsync=off",  # a test cluster: durability across a machine crash buys nothing here
            "-c",
            "max_connections=60",
        ]

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGINT (PostgreSQL's fast shutdown: open sessions are ended, unlike SIGTERM's smart shutdown, which
        waits for them), then SIGKILL after ``timeout_s``. Only this PID."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            popen.send_signal(signal.SIGINT)
            try:
                popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        self._forget()

    def _is_ready(self) -> bool:
        if "ready to accept connections" not in self.log_since_start():
            return False
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    @property
    def url(self) -> str:
        """The ``postgres`` database as the cluster's superuser."""
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, database: str) -> str:
        """A new empty database; its URL."""
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{database}"'.encode())
        return self.database_url(database)


class PrivatePostgres:
    """A :class:`PostgresProcess` in a fresh directory under /tmp, removed again when it stops."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="smartcity-pg-"))
        self.server = PostgresProcess(self.workdir)

    def __enter__(self) -> PostgresProcess:
        try:
            return self.server.start()
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.server.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
