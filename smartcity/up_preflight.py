"""What ``smartcity up`` checks before it starts anything, and the exit codes of the ``up`` family of commands.

A stack that fails half-way leaves a broker or a database running, or a data directory written by one version and
half-upgraded by another. So every check that can fail runs first, and nothing is started or written until all of
them pass: the binaries exist and run, a port asked for is free, the data directory was written by a layout this
version reads.

Errors (each one a message for the operator, naming what to do, and an exit code)::

    UpError
     ├── MissingBinary        EXIT_MISSING_BINARY  mosquitto or influxd not installed where the settings say
     ├── PortInUse            EXIT_PORT_IN_USE     the API port asked for is taken
     └── IncompatibleWorkdir  EXIT_INCOMPATIBLE    the data directory holds another layout version

The work directory in use by another stack is :class:`smartcity.workdir_lock.WorkdirInUse` (exit 3).
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

EXIT_PORT_IN_USE = 4
EXIT_MISSING_BINARY = 5
EXIT_INCOMPATIBLE = 6
EXIT_NOT_RUNNING = 7
"""``smartcity status`` when no stack runs in the work directory."""

WORKDIR_FORMAT = 1
"""The layout of the work directory this version writes and reads (city.json, secret, mosquitto/, influxd/ with
InfluxDB 1.x data, gateway/, rollup/, quality/, api/state.sqlite, logs/). A change that an older or newer ``up``
could not run on raises it."""
FORMAT_FILE = "FORMAT"
_PACKAGES = {"mosquitto": "mosquitto", "influxd": "influxdb"}
_FORMAT_PREFIX = "smartcity-up-workdir "


class UpError(RuntimeError):
    """A reason not to start; ``exit_code`` is what the command exits with."""

    exit_code = 1


class MissingBinary(UpError):
    exit_code = EXIT_MISSING_BINARY


class PortInUse(UpError):
    exit_code = EXIT_PORT_IN_USE


class IncompatibleWorkdir(UpError):
    exit_code = EXIT_INCOMPATIBLE


def check_binaries(binaries: dict[str, Path]) -> None:
    """Each binary exists and is executable (name -> path)."""
    for name, path in binaries.items():
        if not path.is_file() or not os.access(path, os.X_OK):
            raise MissingBinary(
                f"{name} is not installed at {path}: install it (`make system-deps`, or apt-get install "
                f"{_PACKAGES.get(name, name)}) or point SMARTCITY_UP_{name.upper()}_BINARY at it"
            )


def check_port_free(port: int, what: str) -> None:
    """``port`` binds on 127.0.0.1 right now (0: any port, nothing to check)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise PortInUse(f"cannot use port {port} for {what}: {exc.strerror}") from None
            raise PortInUse(
                f"port {port} (for {what}) is in use by another program: stop it, or choose another port with "
                f"--api-port (0 picks a free one)"
            ) from None


def read_format(workdir: Path) -> int | None:
    """The layout version recorded in ``workdir`` (None: no marker)."""
    try:
        text = (workdir / FORMAT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not text.startswith(_FORMAT_PREFIX) or not text.removeprefix(_FORMAT_PREFIX).isdigit():
        raise IncompatibleWorkdir(
            f"{workdir / FORMAT_FILE} is not a smartcity work directory marker ({text[:60]!r}): use another --workdir"
        )
    return int(text.removeprefix(_FORMAT_PREFIX))


def check_workdir(workdir: Path) -> None:
    """The data directory is new, or was written by this layout version (a directory from before the marker
    existed has this layout: it is accepted, and marked by :func:`mark_workdir`)."""
    found = read_format(workdir)
    if found is None or found == WORKDIR_FORMAT:
        return
    newer = "a newer" if found > WORKDIR_FORMAT else "an older"
    raise IncompatibleWorkdir(
        f"{workdir} holds data of {newer} smartcity (work directory format {found}, this version reads "
        f"{WORKDIR_FORMAT}): run that version, or move the directory away (or delete it) to start afresh"
    )


def mark_workdir(workdir: Path) -> None:
    """Record this version's layout in ``workdir`` (after the checks passed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / FORMAT_FILE).write_text(f"{_FORMAT_PREFIX}{WORKDIR_FORMAT}\n", encoding="utf-8")
