"""What `smartcity up` refuses before it starts anything: a missing binary, a taken port, a data directory of
another layout version; each with its message and exit code."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from smartcity.up_preflight import (
    EXIT_INCOMPATIBLE,
    EXIT_MISSING_BINARY,
    EXIT_PORT_IN_USE,
    FORMAT_FILE,
    WORKDIR_FORMAT,
    IncompatibleWorkdir,
    MissingBinary,
    PortInUse,
    check_binaries,
    check_port_free,
    check_workdir,
    mark_workdir,
    read_format,
)


def test_a_missing_or_unrunnable_binary_is_named_with_how_to_install_it(tmp_path: Path) -> None:
    check_binaries({"sh": Path("/bin/sh")})
    with pytest.raises(MissingBinary, match=r"influxd is not installed at /nope/influxd: .*apt-get install influxdb"):
        check_binaries({"sh": Path("/bin/sh"), "influxd": Path("/nope/influxd")})
    plain = tmp_path / "mosquitto"
    plain.write_text("not a program")
    with pytest.raises(MissingBinary, match="SMARTCITY_UP_MOSQUITTO_BINARY") as caught:
        check_binaries({"mosquitto": plain})
    assert caught.value.exit_code == EXIT_MISSING_BINARY


def test_a_port_in_use_is_refused_and_port_0_is_never_checked() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} \\(for the planning API\\) is in use") as caught:
            check_port_free(port, "the planning API")
        assert caught.value.exit_code == EXIT_PORT_IN_USE
    check_port_free(port, "the planning API")  # free again
    check_port_free(0, "the planning API")


def test_the_work_directory_format(tmp_path: Path) -> None:
    work = tmp_path / "var"
    check_workdir(work)  # new: fine
    assert read_format(work) is None
    mark_workdir(work)
    assert read_format(work) == WORKDIR_FORMAT
    check_workdir(work)
    (work / FORMAT_FILE).write_text(f"smartcity-up-workdir {WORKDIR_FORMAT + 1}\n")
    with pytest.raises(IncompatibleWorkdir, match=r"a newer smartcity \(work directory format 2") as caught:
        check_workdir(work)
    assert caught.value.exit_code == EXIT_INCOMPATIBLE
    (work / FORMAT_FILE).write_text("smartcity-up-workdir 0\n")
    with pytest.raises(IncompatibleWorkdir, match="an older smartcity"):
        check_workdir(work)
    (work / FORMAT_FILE).write_text("hello")
    with pytest.raises(IncompatibleWorkdir, match="not a smartcity work directory marker"):
        check_workdir(work)


def test_a_directory_from_before_the_marker_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "influxd").mkdir()
    (tmp_path / "city.json").write_text("{}")
    check_workdir(tmp_path)
