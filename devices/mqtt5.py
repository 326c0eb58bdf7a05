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
    maximum_packet_size: int = 0,
) -> bytes:
    """CONNECT. ``receive_maximum`` 0 leaves the server at the protocol default (65535); ``maximum_packet_size``
    0 declares no limit (a declared one makes the broker discard larger messages for us as if delivered)."""
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
    if maximum_packet_size:
        props += bytes((MAXIMUM_PACKET_SIZE,)) + maximum_packet_size.to_bytes(4, "big")
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


class PacketReader:
    """Splits a byte stream into packets. Feed it what ``data_received`` got; iterate the complete packets.

    Linear in the bytes fed: while a packet whose length is known is incomplete, the chunks are only collected and
    joined once it is whole, so a large packet arriving in many small reads costs one copy, not one per read."""

    __slots__ = ("_buffer", "_chunks", "_have", "_need")

    def __init__(self) -> None:
        self._buffer = b""
        self._chunks: list[bytes] = []
        self._have = 0
        self._need = 0
        """Total bytes of the incomplete packet at the head of the buffer (0 while its header is incomplete)."""

    @property
    def empty(self) -> bool:
        """No partial packet is waiting for more bytes."""
        return not self._buffer and not self._chunks

    def feed(self, data: bytes) -> list[Packet]:
        if self._chunks:
            self._chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            buffer = b"".join(self._chunks)
            self._chunks.clear()
        else:
            buffer = self._buffer + data if self._buffer else data
        packets: list[Packet] = []
        pos, size = 0, len(buffer)
        self._need = 0
        while size - pos >= 2:
            first = buffer[pos]
            try:
                length, body_start = read_varint(buffer, pos + 1)
            except IndexError:
                break
            end = body_start + length
            if end > size:
                self._need = end - pos
                break
            kind = first >> 4
            if kind == 0:
                raise ProtocolError("packet type 0 is reserved")
            packets.append(Packet(PacketType(kind), first & 0x0F, buffer[body_start:end]))
            pos = end
        rest = buffer[pos:]
        if self._need:
            self._buffer = b""
            self._chunks.append(rest)
            self._have = len(rest)
        else:
            self._buffer = rest
        return packets
