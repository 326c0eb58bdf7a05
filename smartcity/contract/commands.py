"""The rules of the device commands: which device types take which command, and the arguments each takes.

This is the one statement of what :data:`~smartcity.contract.messages.COMMANDS` means. The simulator applies a
command only when :func:`check_command` passes and otherwise acks it as ``rejected`` with the rule's detail; the
planning API refuses the same command with 422 (naming the same rule) before anything is published. A command the
API accepts is therefore one the device takes.

``set_dim_level``       street lights, ``args.level`` a whole number 0-100
``show_message``        info displays, ``args.text`` 1-256 characters
``set_report_interval`` any device, ``args.seconds`` a whole number 1-86400

A whole number may arrive as ``40`` or ``40.0`` (JSON does not tell them apart); booleans are not numbers here.
Devices ignore arguments they do not know (a newer platform may send more); the API refuses them
(``allow_extra=False``), so an operator's typo (``levle``) is an error, not a silent no-op.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from smartcity.city.model import DeviceType
from smartcity.contract.messages import COMMANDS

ArgValue = float | int | bool | str
MAX_MESSAGE_LENGTH = 256


class Rule(enum.StrEnum):
    """Which rule a refused command broke (the API's 422 names it)."""

    UNKNOWN_COMMAND = "unknown-command"
    DEVICE_TYPE = "device-type"
    ARGUMENT = "argument"
    UNKNOWN_ARGUMENT = "unknown-argument"


class CommandRefused(ValueError):
    """A command the device would reject: ``rule`` broken, ``param`` the offending part (``name``,
    ``args.level``), ``detail`` the sentence a device puts in its rejection ack."""

    def __init__(self, rule: Rule, param: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.param = param
        self.detail = detail


class ArgKind(enum.StrEnum):
    WHOLE_NUMBER = "whole number"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class ArgRule:
    """One argument: a whole number in ``low..high``, or a text of ``low..high`` characters."""

    name: str
    kind: ArgKind
    low: int
    high: int
    description: str

    def check(self, args: Mapping[str, ArgValue]) -> int | str:
        """The argument's value (a whole number as ``int``), or :class:`CommandRefused`."""
        value = args.get(self.name)
        param = f"args.{self.name}"
        if self.kind is ArgKind.TEXT:
            if not isinstance(value, str) or not self.low <= len(value) <= self.high:
                detail = f"args.{self.name} must be a string of {self.low} to {self.high} characters"
                raise CommandRefused(Rule.ARGUMENT, param, detail)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            detail = f"args.{self.name} must be a number from {self.low} to {self.high}"
            raise CommandRefused(Rule.ARGUMENT, param, detail)
        if not self.low <= value <= self.high or int(value) != value:
            detail = f"args.{self.name}={value} is not a whole number from {self.low} to {self.high}"
            raise CommandRefused(Rule.ARGUMENT, param, detail)
        return int(value)


@dataclass(frozen=True, slots=True)
class CommandRule:
    """One command: the device types that take it (None: every type) and its arguments."""

    name: str
    device_types: frozenset[DeviceType] | None
    takers: str
    """The device types in words, for the refusal ("street lights")."""
    args: tuple[ArgRule, ...]

    @property
    def summary(self) -> str:
        return COMMANDS[self.name]


COMMAND_RULES: dict[str, CommandRule] = {
    rule.name: rule
    for rule in (
        CommandRule(
            "set_dim_level",
            frozenset({DeviceType.STREET_LIGHT}),
            "street lights",
            (ArgRule("level", ArgKind.WHOLE_NUMBER, 0, 100, "lamp level in percent while it is on"),),
        ),
        CommandRule(
            "show_message",
            frozenset({DeviceType.INFO_DISPLAY}),
            "info displays",
            (ArgRule("text", ArgKind.TEXT, 1, MAX_MESSAGE_LENGTH, "the text to show"),),
        ),
        CommandRule(
            "set_report_interval",
            None,
            "any device",
            (ArgRule("seconds", ArgKind.WHOLE_NUMBER, 1, 86_400, "seconds between readings"),),
        ),
    )
}


def check_command(
    device_type: DeviceType, name: str, args: Mapping[str, ArgValue], *, allow_extra: bool = False
) -> dict[str, int | str]:
    """The command's arguments, checked and normalised (whole numbers as ``int``), for a device of
    ``device_type``; :class:`CommandRefused` naming the first rule it breaks (command, then device type, then
    each argument, then arguments the command does not take unless ``allow_extra``)."""
    rule = COMMAND_RULES.get(name)
    if rule is None:
        detail = f"unknown command {name!r}; known: {', '.join(sorted(COMMAND_RULES))}"
        raise CommandRefused(Rule.UNKNOWN_COMMAND, "name", detail)
    if rule.device_types is not None and device_type not in rule.device_types:
        detail = f"{name} is for {rule.takers}, this device is a {device_type.value}"
        raise CommandRefused(Rule.DEVICE_TYPE, "name", detail)
    checked = {arg.name: arg.check(args) for arg in rule.args}
    if not allow_extra:
        extra = sorted(set(args) - set(checked))
        if extra:
            takes = ", ".join(arg.name for arg in rule.args)
            detail = f"{name} takes no argument {extra[0][:80]!r} (it takes: {takes})"
            raise CommandRefused(Rule.UNKNOWN_ARGUMENT, f"args.{extra[0][:80]}", detail)
    return checked
