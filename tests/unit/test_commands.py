"""The command rules of the contract: one statement that the simulator and the API both obey."""

from __future__ import annotations

import pytest

from devices.commands import apply_command
from devices.signals import DeviceControls
from smartcity.city.model import DeviceType
from smartcity.contract.commands import COMMAND_RULES, CommandRefused, Rule, check_command
from smartcity.contract.messages import COMMANDS, Command


def test_every_command_of_the_contract_has_rules() -> None:
    assert set(COMMAND_RULES) == set(COMMANDS)
    assert COMMAND_RULES["set_dim_level"].summary == COMMANDS["set_dim_level"]


@pytest.mark.parametrize(
    ("device_type", "name", "args", "normalised"),
    [
        (DeviceType.STREET_LIGHT, "set_dim_level", {"level": 0}, {"level": 0}),
        (DeviceType.STREET_LIGHT, "set_dim_level", {"level": 40.0}, {"level": 40}),
        (DeviceType.INFO_DISPLAY, "show_message", {"text": "x" * 256}, {"text": "x" * 256}),
        (DeviceType.PARKING_BAY, "set_report_interval", {"seconds": 86_400}, {"seconds": 86_400}),
    ],
)
def test_accepted_commands_come_back_normalised(
    device_type: DeviceType, name: str, args: dict[str, float | int | bool | str], normalised: dict[str, int | str]
) -> None:
    checked = check_command(device_type, name, args)
    assert checked == normalised
    assert all(type(checked[k]) is type(v) for k, v in normalised.items())


@pytest.mark.parametrize(
    ("device_type", "name", "args", "rule", "param", "detail"),
    [
        (DeviceType.NOISE, "reboot", {}, Rule.UNKNOWN_COMMAND, "name", "unknown command 'reboot'; known: set_dim"),
        (DeviceType.NOISE, "set_dim_level", {"level": 5}, Rule.DEVICE_TYPE, "name", "is for street lights, this"),
        (DeviceType.STREET_LIGHT, "show_message", {"text": "a"}, Rule.DEVICE_TYPE, "name", "is for info displays"),
        (DeviceType.STREET_LIGHT, "set_dim_level", {"level": 101}, Rule.ARGUMENT, "args.level", "from 0 to 100"),
        (DeviceType.STREET_LIGHT, "set_dim_level", {"level": 40.5}, Rule.ARGUMENT, "args.level", "not a whole"),
        (DeviceType.STREET_LIGHT, "set_dim_level", {"level": True}, Rule.ARGUMENT, "args.level", "must be a number"),
        (DeviceType.STREET_LIGHT, "set_dim_level", {}, Rule.ARGUMENT, "args.level", "must be a number"),
        (DeviceType.INFO_DISPLAY, "show_message", {"text": ""}, Rule.ARGUMENT, "args.text", "1 to 256 characters"),
        (DeviceType.INFO_DISPLAY, "show_message", {"text": "x" * 257}, Rule.ARGUMENT, "args.text", "1 to 256"),
        (DeviceType.INFO_DISPLAY, "show_message", {"text": 5}, Rule.ARGUMENT, "args.text", "must be a string"),
        (DeviceType.WEATHER, "set_report_interval", {"seconds": 0}, Rule.ARGUMENT, "args.seconds", "1 to 86400"),
        (DeviceType.WEATHER, "set_report_interval", {"seconds": 9, "x": 1}, Rule.UNKNOWN_ARGUMENT, "args.x", "(it"),
    ],
)
def test_refusals_name_the_rule_and_match_what_the_device_answers(
    device_type: DeviceType,
    name: str,
    args: dict[str, float | int | bool | str],
    rule: Rule,
    param: str,
    detail: str,
) -> None:
    with pytest.raises(CommandRefused) as refused:
        check_command(device_type, name, args)
    assert (refused.value.rule, refused.value.param) == (rule, param)
    assert detail in refused.value.detail
    ack = apply_command(device_type, DeviceControls(60), Command(id="c", name=name, args=args, ts_ms=0), 0)
    if rule is Rule.UNKNOWN_ARGUMENT:
        assert ack.status == "ok"  # devices ignore arguments they do not know; the API refuses them
    else:
        assert (ack.status, ack.detail) == ("rejected", refused.value.detail)


def test_devices_may_take_extra_arguments() -> None:
    assert check_command(DeviceType.WEATHER, "set_report_interval", {"seconds": 9, "x": 1}, allow_extra=True) == {
        "seconds": 9
    }
