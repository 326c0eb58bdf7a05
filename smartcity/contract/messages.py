"""Typed MQTT payloads other than telemetry: status, birth, commands, command acks and dead letters.

All are JSON objects (msgspec Structs, unknown fields refused). Timestamps are milliseconds since the epoch.
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec


class DeviceState(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Status(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Retained on ``.../status``. The broker publishes the device's last will (``offline``, reason ``will``)
    when the session ends without DISCONNECT."""

    state: DeviceState
    ts_ms: int
    reason: str = ""


class Birth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Retained on ``.../birth`` at every (re)connect: what the device says about itself. The platform keeps
    district and facility from its own registry, never from here."""

    device_id: str
    device_type: str
    firmware: str
    ipv6: str
    network: str
    ts_ms: int
    metrics: list[str]
    report_interval_s: int
    radio: str | None = None
    bound_ipv6: bool = False
    """True when the session's socket was bound to ``ipv6``; False when it fell back to another source address."""


class Command(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Platform -> device on ``.../cmd``. ``name`` is one of :data:`COMMANDS`."""

    id: str
    name: str
    args: dict[str, float | int | bool | str]
    ts_ms: int


COMMANDS: dict[str, str] = {
    "set_dim_level": "street lights: args.level 0-100",
    "show_message": "info displays: args.text (max 256 characters)",
    "set_report_interval": "any device: args.seconds 1-86400",
}


class CommandAck(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Device -> platform on ``.../cmd-ack``."""

    id: str
    status: Literal["ok", "rejected"]
    ts_ms: int
    detail: str = ""


class DeadLetter(msgspec.Struct, frozen=True):
    """One per rejected message: stored by the gateway in the ``dead_letters`` measurement (the durable record,
    see :mod:`smartcity.influx.schema`) and published live on ``{root}/v1/sys/dead-letter/{reason}``."""

    reason: str
    """The first rejection's reason (a :class:`~smartcity.contract.reading.RejectReason` value)."""
    detail: str
    """Every rejected record of the message, ``; ``-separated and bounded (the count of the rest at the end)."""
    topic: str
    received_ms: int
    payload: str
    """An excerpt of the original payload: UTF-8 text when it decodes, otherwise base64 with ``payload_encoding``
    = base64. Cut to the gateway's excerpt limit; ``payload_bytes`` is the original size."""
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    device_id: str | None = None
    rejections: int = 1
    """How many readings or records of the message were rejected (a SenML pack can have many)."""
    payload_bytes: int = 0
    """Size of the original payload."""
