"""MQTT 5 identifiers the codec and its users name: packet types, property identifiers and reason codes.

The reason-code slugs are the simulator's counter names for refusals and broker disconnects (docs/SIMULATOR.md).
"""

from __future__ import annotations

import enum


class PacketType(enum.IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15


# Property identifiers used here (MQTT 5.0 section 2.2.2.2).
SESSION_EXPIRY_INTERVAL = 0x11
RECEIVE_MAXIMUM = 0x21
REASON_STRING = 0x1F
MAXIMUM_PACKET_SIZE = 0x27

PACKET_TOO_LARGE = 0x95
"""Reason code of a PUBLISH the server's Maximum Packet Size does not admit (DISCONNECT from the broker; the
session reports a publish it refused to send for that reason the same way, as a PUBACK would)."""

REASON_NAMES = {
    0x00: "success",
    0x04: "disconnect-with-will",
    0x10: "no-matching-subscribers",
    0x80: "unspecified-error",
    0x81: "malformed-packet",
    0x82: "protocol-error",
    0x83: "implementation-specific-error",
    0x87: "not-authorized",
    0x89: "server-busy",
    0x8B: "server-shutting-down",
    0x8D: "keep-alive-timeout",
    0x8E: "session-taken-over",
    0x90: "topic-name-invalid",
    0x91: "packet-identifier-in-use",
    0x93: "receive-maximum-exceeded",
    0x94: "topic-alias-invalid",
    0x95: "packet-too-large",
    0x96: "message-rate-too-high",
    0x97: "quota-exceeded",
    0x98: "administrative-action",
    0x99: "payload-format-invalid",
    0x9A: "retain-not-supported",
    0x9B: "qos-not-supported",
    0x9C: "use-another-server",
    0x9D: "server-moved",
    0x9F: "connection-rate-exceeded",
    0xA0: "maximum-connect-time",
}
"""MQTT 5.0 reason codes of PUBACK and DISCONNECT (section 2.4), as the slugs the simulator's counters use."""


def reason_name(code: int) -> str:
    """The slug of a PUBACK or DISCONNECT reason code; codes the table lacks read as ``0xNN``."""
    return REASON_NAMES.get(code, f"0x{code:02x}")
