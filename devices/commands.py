"""Commands a simulated device understands, and the acknowledgement it answers with.

``set_dim_level`` (street lights, ``args.level`` 0-100), ``show_message`` (info displays, ``args.text`` up to
256 characters), ``set_report_interval`` (any device, ``args.seconds`` 1-86400). The change is applied to the
device's :class:`~devices.signals.DeviceControls`, so it shows in the next reading. Anything else is answered
with a ``rejected`` ack whose detail says why; a payload that is not a command at all is acked as rejected too
(with id ``?`` when none can be read), so the platform always learns the fate of what it sent.
"""

from __future__ import annotations

import msgspec

from devices.signals import DeviceControls
from smartcity.city.model import DeviceType
from smartcity.contract.messages import COMMANDS, Command, CommandAck

_DECODER = msgspec.json.Decoder(Command)
_ENCODER = msgspec.json.Encoder()
MAX_MESSAGE_LENGTH = 256


def decode_command(payload: bytes) -> Command | CommandAck:
    """The command in ``payload``, or the rejection ack to send back when it is not a valid command."""
    try:
        return _DECODER.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return CommandAck(id="?", status="rejected", ts_ms=0, detail=f"not a command: {exc}")


def apply_command(device_type: DeviceType, controls: DeviceControls, command: Command, ts_ms: int) -> CommandAck:
    """Apply ``command`` to ``controls`` (in place) and return the acknowledgement to publish."""
    detail = _apply(device_type, controls, command)
    if detail:
        return CommandAck(id=command.id, status="rejected", ts_ms=ts_ms, detail=detail)
    return CommandAck(id=command.id, status="ok", ts_ms=ts_ms)


def encode_ack(ack: CommandAck) -> bytes:
    return _ENCODER.encode(ack)


def _number(args: dict[str, float | int | bool | str], name: str, low: int, high: int) -> int | str:
    value = args.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"args.{name} must be a number from {low} to {high}"
    if not low <= value <= high or int(value) != value:
        return f"args.{name}={value} is not a whole number from {low} to {high}"
    return int(value)


def _apply(device_type: DeviceType, controls: DeviceControls, command: Command) -> str:
    """Empty string when applied, else why not."""
    if command.name not in COMMANDS:
        return f"unknown command {command.name!r}; known: {', '.join(sorted(COMMANDS))}"
    if command.name == "set_report_interval":
        seconds = _number(command.args, "seconds", 1, 86_400)
        if isinstance(seconds, str):
            return seconds
        controls.report_interval_s = seconds
        return ""
    if command.name == "set_dim_level":
        if device_type is not DeviceType.STREET_LIGHT:
            return f"set_dim_level is for street lights, this device is a {device_type.value}"
        level = _number(command.args, "level", 0, 100)
        if isinstance(level, str):
            return level
        controls.dim_level = level
        return ""
    if device_type is not DeviceType.INFO_DISPLAY:
        return f"show_message is for info displays, this device is a {device_type.value}"
    text = command.args.get("text")
    if not isinstance(text, str) or not 0 < len(text) <= MAX_MESSAGE_LENGTH:
        return f"args.text must be a string of 1 to {MAX_MESSAGE_LENGTH} characters"
    controls.message = text
    return ""
