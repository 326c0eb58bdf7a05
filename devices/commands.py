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
from smartcity.contract.commands import CommandRefused, check_command
from smartcity.contract.messages import Command, CommandAck

_DECODER = msgspec.json.Decoder(Command)
_ENCODER = msgspec.json.Encoder()


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


def _apply(device_type: DeviceType, controls: DeviceControls, command: Command) -> str:
    """Empty string when applied, else why not (the rules live in :mod:`smartcity.contract.commands`)."""
    try:
        args = check_command(device_type, command.name, command.args, allow_extra=True)
    except CommandRefused as exc:
        return exc.detail
    if command.name == "set_report_interval":
        controls.report_interval_s = int(args["seconds"])
    elif command.name == "set_dim_level":
        controls.dim_level = int(args["level"])
    else:
        controls.message = str(args["text"])
    return ""
