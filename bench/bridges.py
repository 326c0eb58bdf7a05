"""The bridges under test as subprocesses: the gateway (the core's
:class:`~smartcity.localservices.gateway.GatewayProcess`) and the naive baseline bridge, each optionally run under
``py-spy record``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from smartcity.localservices.gateway import GatewayProcess
from smartcity.localservices.process import ManagedProcess


class BridgeProcess(ManagedProcess):
    """Runs a process under ``py-spy record`` when :attr:`profile_to` is set (py-spy cannot attach to this Python,
    but it can start it). While profiled, :attr:`pid` is py-spy's; :meth:`stop` signals the bridge itself so that
    it shuts down as usual and py-spy writes its samples when it exits. Put it first among the bases."""

    profile_to: Path | None = None

    def _command(self) -> list[str]:
        command = super()._command()
        if self.profile_to is None:
            return command
        spy = str(Path(sys.executable).parent / "py-spy")
        record = [spy, "record", "--format", "raw", "--rate", "100", "--output", str(self.profile_to)]
        return [*record, "--", *command]

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.profile_to is not None and self.running:
            for child in _children(self.pid):
                os.kill(child, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.running and time.monotonic() < deadline:
                time.sleep(0.05)  # py-spy writes its samples once the bridge has exited
        super().stop(timeout_s)


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return children


class ProfiledGatewayProcess(BridgeProcess, GatewayProcess):
    """The core's :class:`~smartcity.localservices.gateway.GatewayProcess`, optionally under py-spy."""

    def __init__(
        self, workdir: Path, env: Mapping[str, str], *, ready_timeout_s: float = 30.0, profile_to: Path | None = None
    ) -> None:
        super().__init__(workdir, env, ready_timeout_s=ready_timeout_s)
        self.profile_to = profile_to


class _DirectGateway(GatewayProcess):
    """The gateway started through its own CLI module, not the ``smartcity`` root: an earlier commit's checkout
    lacks the components registered since, which the root would fail to load."""

    def _command(self) -> list[str]:
        script = (
            "import typer; from gateway.cli import register; app = typer.Typer(); "
            "app.command('noop')(lambda: None); register(app); app(['gateway'])"
        )
        return [sys.executable, "-c", script]


class EarlierGatewayProcess(BridgeProcess, _DirectGateway):
    """An earlier commit's gateway (``PYTHONPATH`` names its checkout in ``env``), optionally under py-spy."""

    def __init__(
        self, workdir: Path, env: Mapping[str, str], *, ready_timeout_s: float = 30.0, profile_to: Path | None = None
    ) -> None:
        super().__init__(workdir, env, ready_timeout_s=ready_timeout_s)
        self.profile_to = profile_to


class _NaiveBridge(ManagedProcess):
    """``python -m bench.baselines.naive_bridge``, ready once its log says it subscribed, or that the broker kept
    its session (then the subscription exists already, and the SUBACK may queue behind a backlog)."""

    name = "naive-bridge"

    def __init__(self, workdir: Path, args: Sequence[str], *, ready_timeout_s: float = 30.0) -> None:
        super().__init__(workdir, log_name="naive-bridge.log", ready_timeout_s=ready_timeout_s)
        self.args = list(args)
        self._log_offset = 0

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "bench.baselines.naive_bridge", *self.args]

    def _prepare(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0

    def _is_ready(self) -> bool:
        with self.log_path.open("rb") as log_file:
            log_file.seek(self._log_offset)
            text = log_file.read()
        return b"subscribed to" in text or b"session present: True" in text


class NaiveBridgeProcess(BridgeProcess, _NaiveBridge):
    """The naive bridge, optionally under py-spy."""

    def __init__(
        self, workdir: Path, args: Sequence[str], *, ready_timeout_s: float = 30.0, profile_to: Path | None = None
    ) -> None:
        super().__init__(workdir, args, ready_timeout_s=ready_timeout_s)
        self.profile_to = profile_to
