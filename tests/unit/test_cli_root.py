"""The ``smartcity`` root: every component's commands are listed, and a process imports only its own component."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
from smartcity.cli import _load_components, app
_load_components(sys.argv[1:])
print(sorted(name for name in ("devices.cli", "gateway.cli", "services.cli", "services.rollup.cli")
             if name in sys.modules))
commands = [command.name for command in app.registered_commands]
print(sorted(commands) + sorted(group.name for group in app.registered_groups))
"""


def _probe(*argv: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "smartcity", *argv], capture_output=True, text=True, check=True, timeout=60
    )
    modules, commands = done.stdout.strip().splitlines()
    return modules, commands


def test_a_component_command_imports_only_its_component() -> None:
    modules, commands = _probe("gateway", "--help")
    assert modules == "['gateway.cli']"
    assert "'gateway'" in commands
    assert "'simulate'" not in commands


def test_without_a_component_command_every_component_is_registered() -> None:
    for argv in ((), ("--help",), ("city", "show")):
        modules, commands = _probe(*argv)
        assert modules == "['devices.cli', 'gateway.cli', 'services.cli', 'services.rollup.cli']"
        for name in ("gateway", "simulate", "up", "api", "rollup", "city"):
            assert f"'{name}'" in commands
