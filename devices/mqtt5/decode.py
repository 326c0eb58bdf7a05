"""Decoding what the broker sends (CONNACK, PUBLISH, PUBACK, SUBACK, DISCONNECT) and reading back encoded packets.

Every decoder takes the body after the fixed header, as :class:`~devices.mqtt5.reader.PacketReader` yields it.
Bytes that are not valid MQTT 5 raise :class:`ProtocolError`; any property a server may send is parsed or skipped
by its wire type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.mqtt5.codes import MAXIMUM_PACKET_SIZE, REASON_STRING, RECEIVE_MAXIMUM, PacketType


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid MQTT 5 packet (or one this client never expects)."""


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

    @property
    def maximum_packet_size(self) -> int:
        """Largest packet the server accepts (whole packet, MQTT 5 section 3.2.2.3.6); 0 when it announced none."""
        value = self.properties.get(MAXIMUM_PACKET_SIZE, 0)
        return value if isinstance(value, int) else 0


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A DISCONNECT from the server: why it is closing the connection."""

    reason: int
    reason_string: str = ""


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


def decode_disconnect(body: bytes) -> Disconnect:
    """A server's DISCONNECT: reason 0 when the body is empty (MQTT 5 section 3.14.2.1), its Reason String if any."""
    if not body:
        return Disconnect(0)
    text = ""
    if len(body) > 1:
        props, _ = read_properties(body, 1)
        raw = props.get(REASON_STRING)
        if isinstance(raw, bytes):
            text = raw.decode(errors="replace")
    return Disconnect(body[0], text)


def decode_ack(body: bytes) -> tuple[int, int]:
    """(packet id, reason code) of a PUBACK; the reason defaults to 0 (success) when omitted."""
    if len(body) < 2:
        raise ProtocolError("acknowledgement shorter than 2 bytes")
    return int.from_bytes(body[0:2], "big"), body[2] if len(body) > 2 else 0


def decode_suback(body: bytes) -> tuple[int, list[int]]:
    packet_id = int.from_bytes(body[0:2], "big")
    _, pos = read_properties(body, 2)
    return packet_id, list(body[pos:])


def iter_packets(data: bytes) -> list[bytes]:
    """The whole packets (fixed header included) of a buffer of complete encoded packets, e.g. a joined burst."""
    packets: list[bytes] = []
    pos = 0
    while pos < len(data):
        length, body_start = read_varint(data, pos + 1)
        end = body_start + length
        if end > len(data):
            raise ValueError("buffer ends inside a packet")
        packets.append(data[pos:end])
        pos = end
    return packets


def publish_packet_id(packet: bytes) -> int:
    """Packet identifier of an encoded PUBLISH (0 for QoS 0, which has none)."""
    if packet[0] >> 4 != PacketType.PUBLISH:
        raise ValueError("not a PUBLISH packet")
    if not (packet[0] >> 1) & 0x03:
        return 0
    _, pos = read_varint(packet, 1)
    pos += 2 + int.from_bytes(packet[pos : pos + 2], "big")
    return int.from_bytes(packet[pos : pos + 2], "big")
