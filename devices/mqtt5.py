"""MQTT 5 packet codec: the subset a simulated device speaks (OASIS MQTT 5.0, chapter 3).

CONNECT (will, credentials, session expiry, receive maximum), PUBLISH QoS 0/1, PUBACK, SUBSCRIBE, SUBACK,
PINGREQ/PINGRESP and DISCONNECT. QoS 2 is not used by the contract and is refused when received.
Encoders return ``bytes`` ready for one ``transport.write``; :class:`PacketReader` splits a byte stream
into packets. Kept free of I/O so that unit tests cover it byte by byte.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid MQTT 5 packet (or one this client never expects)."""


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

# Property id -> wire type, for skipping any property a server may send.
_BYTE, _U16, _U32, _VARINT, _UTF8, _BINARY, _PAIR = range(7)
_PROPERTY_TYPES = {
    **dict.fromkeys((0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A), _BYTE),
    **dict.fromkeys((0x13, 0x21, 0x22, 0x23), _U16),
    **dict.fromkeys((0x02, 0x11, 0x18, 0x27), _U32),
    0x0B: _VARINT,
    **dict.fromkeys((0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F), _UTF8),
    **dict.fromkeys((0x09, 0x16), _BINARY),
    0x26: _PAIR,
}

PINGREQ = b"\xc0\x00"
DISCONNECT_NORMAL = b"\xe0\x00"
MAX_REMAINING_LENGTH = 268_435_455


def varint(value: int) -> bytes:
    """Variable Byte Integer (1-4 bytes)."""
    if not 0 <= value <= MAX_REMAINING_LENGTH:
        raise ValueError(f"{value} does not fit in an MQTT variable byte integer")
    if value < 128:
        return bytes((value,))
    if value < 16_384:  # every reading PUBLISH: two bytes, no loop
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def utf8(text: str) -> bytes:
    """UTF-8 Encoded String: 2-byte length + bytes."""
    raw = text.encode()
    if len(raw) > 0xFFFF:
        raise ValueError(f"string of {len(raw)} bytes is longer than MQTT allows (65535)")
    return len(raw).to_bytes(2, "big") + raw


def binary(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError(f"binary field of {len(data)} bytes is longer than MQTT allows (65535)")
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + varint(len(body)) + body


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def encode_connect(
    client_id: str,
    *,
    keepalive_s: int,
    clean_start: bool = True,
    username: str | None = None,
    password: bytes | None = None,
    will: Will | None = None,
    session_expiry_s: int = 0,
    receive_maximum: int = 0,
) -> bytes:
    """CONNECT. ``receive_maximum`` 0 leaves the server at the protocol default (65535)."""
    flags = 0x02 if clean_start else 0
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    props = b""
    if session_expiry_s:
        props += bytes((SESSION_EXPIRY_INTERVAL,)) + session_expiry_s.to_bytes(4, "big")
    if receive_maximum:
        props += bytes((RECEIVE_MAXIMUM,)) + receive_maximum.to_bytes(2, "big")
    body = b"\x00\x04MQTT\x05" + bytes((flags,)) + keepalive_s.to_bytes(2, "big") + varint(len(props)) + props
    body += utf8(client_id)
    if will is not None:
        body += b"\x00" + utf8(will.topic) + binary(will.payload)
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password)
    return _packet(0x10, body)


def encode_topic(topic: str) -> bytes:
    """A topic as it appears in PUBLISH (length-prefixed UTF-8); cache it per device."""
    return utf8(topic)


def encode_publish(topic: bytes, payload: bytes, *, qos: int, packet_id: int = 0, retain: bool = False) -> bytes:
    """PUBLISH with an already :func:`encode_topic`-ed topic and no properties (one write, no copies beyond
    the join). ``packet_id`` is required for QoS 1."""
    first = 0x30 | (qos << 1) | (1 if retain else 0)
    if qos:
        body_len = len(topic) + 3 + len(payload)
        return b"".join((bytes((first,)), varint(body_len), topic, packet_id.to_bytes(2, "big"), b"\x00", payload))
    body_len = len(topic) + 1 + len(payload)
    return b"".join((bytes((first,)), varint(body_len), topic, b"\x00", payload))


def set_dup(packet: bytes) -> bytes:
    """The same PUBLISH with the DUP flag set, for a retransmission after reconnect."""
    return bytes((packet[0] | 0x08,)) + packet[1:]


def encode_puback(packet_id: int, reason: int = 0) -> bytes:
    if reason == 0:
        return b"\x40\x02" + packet_id.to_bytes(2, "big")
    return b"\x40\x03" + packet_id.to_bytes(2, "big") + bytes((reason,))


def encode_subscribe(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    """SUBSCRIBE; each filter with its maximum QoS (no-local and retain options left at their defaults)."""
    if not filters:
        raise ValueError("SUBSCRIBE needs at least one topic filter")
    body = packet_id.to_bytes(2, "big") + b"\x00" + b"".join(utf8(topic) + bytes((qos,)) for topic, qos in filters)
    return _packet(0x82, body)


def encode_disconnect(reason: int = 0, *, session_expiry_s: int | None = None) -> bytes:
    """DISCONNECT. Reason 0 discards the will; 0x04 asks the server to publish it. ``session_expiry_s`` 0 ends a
    persistent session now (allowed only when CONNECT gave a non-zero expiry)."""
    if session_expiry_s is None:
        return DISCONNECT_NORMAL if reason == 0 else b"\xe0\x01" + bytes((reason,))
    props = bytes((SESSION_EXPIRY_INTERVAL,)) + session_expiry_s.to_bytes(4, "big")
    return _packet(0xE0, bytes((reason,)) + varint(len(props)) + props)


@dataclass(slots=True)
class Packet:
    """One received packet: its type, the flag nibble and the body after the fixed header."""

    type: PacketType
    flags: int
    body: bytes


@dataclass(frozen=True, slots=True)
class ConnAck:
    session_present: bool
    reason: int
    properties: dict[int, object] = field(default_factory=dict)

    @property
    def receive_maximum(self) -> int:
        value = self.properties.get(RECEIVE_MAXIMUM, 65535)
        return value if isinstance(value, int) else 65535


@dataclass(frozen=True, slots=True)
class IncomingPublish:
    topic: str
    payload: bytes
    qos: int
    packet_id: int
    retain: bool


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); raises IndexError when the bytes end first."""
    value = shift = 0
    for _ in range(4):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ProtocolError("variable byte integer longer than 4 bytes")


def read_properties(data: bytes, pos: int) -> tuple[dict[int, object], int]:
    """Parse a property block; unknown identifiers are a protocol error (they cannot be skipped safely)."""
    length, pos = read_varint(data, pos)
    end = pos + length
    props: dict[int, object] = {}
    while pos < end:
        ident = data[pos]
        pos += 1
        kind = _PROPERTY_TYPES.get(ident)
        value: object
        if kind == _BYTE:
            value, pos = data[pos], pos + 1
        elif kind == _U16:
            value, pos = int.from_bytes(data[pos : pos + 2], "big"), pos + 2
        elif kind == _U32:
            value, pos = int.from_bytes(data[pos : pos + 4], "big"), pos + 4
        elif kind == _VARINT:
            value, pos = read_varint(data, pos)
        elif kind in (_UTF8, _BINARY):
            size = int.from_bytes(data[pos : pos + 2], "big")
            value, pos = data[pos + 2 : pos + 2 + size], pos + 2 + size
        elif kind == _PAIR:
            for _ in range(2):
                size = int.from_bytes(data[pos : pos + 2], "big")
                pos += 2 + size
            value = None
        else:
            raise ProtocolError(f"unknown MQTT 5 property identifier 0x{ident:02x}")
        props[ident] = value
    if pos != end:
        raise ProtocolError("property block overruns its length")
    return props, end


def decode_connack(body: bytes) -> ConnAck:
    if len(body) < 2:
        raise ProtocolError("CONNACK shorter than 2 bytes")
    props, _ = read_properties(body, 2) if len(body) > 2 else ({}, 2)
    return ConnAck(bool(body[0] & 0x01), body[1], props)


def decode_publish(flags: int, body: bytes) -> IncomingPublish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3")
    size = int.from_bytes(body[0:2], "big")
    topic = body[2 : 2 + size].decode()
    pos = 2 + size
    packet_id = 0
    if qos:
        packet_id = int.from_bytes(body[pos : pos + 2], "big")
        pos += 2
    _, pos = read_properties(body, pos)
    return IncomingPublish(topic, body[pos:], qos, packet_id, bool(flags & 0x01))


def decode_ack(body: bytes) -> tuple[int, int]:
    """(packet id, reason code) of a PUBACK; the reason defaults to 0 (success) when omitted."""
    if len(body) < 2:
        raise ProtocolError("acknowledgement shorter than 2 bytes")
    return int.from_bytes(body[0:2], "big"), body[2] if len(body) > 2 else 0


def decode_suback(body: bytes) -> tuple[int, list[int]]:
    packet_id = int.from_bytes(body[0:2], "big")
    _, pos = read_properties(body, 2)
    return packet_id, list(body[pos:])


class PacketReader:
    """Splits a byte stream into packets. Feed it what ``data_received`` got; iterate the complete packets."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def empty(self) -> bool:
        """No partial packet is waiting for more bytes."""
        return not self._buffer

    def feed(self, data: bytes) -> list[Packet]:
        buffer = self._buffer + data if self._buffer else data
        packets: list[Packet] = []
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first = buffer[pos]
            try:
                length, body_start = read_varint(buffer, pos + 1)
            except IndexError:
                break
            end = body_start + length
            if end > size:
                break
            kind = first >> 4
            if kind == 0:
                raise ProtocolError("packet type 0 is reserved")
            packets.append(Packet(PacketType(kind), first & 0x0F, buffer[body_start:end]))
            pos = end
        self._buffer = buffer[pos:]
        return packets
