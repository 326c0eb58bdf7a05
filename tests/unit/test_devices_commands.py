"""Commands change a device's controls or are rejected with a reason."""

from __future__ import annotations

import pytest

from devices.commands import apply_command, decode_command
from devices.signals import DeviceControls
from smartcity.city.model import DeviceType
from smartcity.contract.messages import Command, CommandAck


def _cmd(name: str, **args: float | int | bool | str) -> Command:
    return Command(id="c1", name=name, args=dict(args), ts_ms=0)


def test_dim_level_on_a_street_light() -> None:
    controls = DeviceControls(60)
    ack = apply_command(DeviceType.STREET_LIGHT, controls, _cmd("set_dim_level", level=30), 5)
    assert (ack.status, ack.id, ack.ts_ms, controls.dim_level) == ("ok", "c1", 5, 30)


def test_message_on_a_display_and_interval_on_anything() -> None:
    controls = DeviceControls(60)
    assert apply_command(DeviceType.INFO_DISPLAY, controls, _cmd("show_message", text="Road closed"), 0).status == "ok"
    assert apply_command(DeviceType.NOISE, controls, _cmd("set_report_interval", seconds=15), 0).status == "ok"
    assert (controls.message, controls.report_interval_s) == ("Road closed", 15)


@pytest.mark.parametrize(
    ("device_type", "command", "detail"),
    [
        (DeviceType.NOISE, _cmd("set_dim_level", level=10), "for street lights"),
        (DeviceType.STREET_LIGHT, _cmd("set_dim_level", level=101), "from 0 to 100"),
        (DeviceType.STREET_LIGHT, _cmd("set_dim_level", level=True), "must be a number"),
        (DeviceType.INFO_DISPLAY, _cmd("show_message", text=""), "1 to 256"),
        (DeviceType.WEATHER, _cmd("set_report_interval", seconds=0), "from 1 to 86400"),
        (DeviceType.WEATHER, _cmd("reboot"), "unknown command 'reboot'"),
    ],
)
def test_bad_commands_are_rejected_and_change_nothing(device_type: DeviceType, command: Command, detail: str) -> None:
    controls = DeviceControls(60)
    ack = apply_command(device_type, controls, command, 0)
    assert ack.status == "rejected"
    assert detail in ack.detail
    assert controls == DeviceControls(60)


def test_garbage_payload_decodes_to_a_rejection() -> None:
    result = decode_command(b"{not json")
    assert isinstance(result, CommandAck)
    assert result.status == "rejected"
    assert "not a command" in result.detail
