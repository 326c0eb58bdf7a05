"""Encoding the packets a simulated device sends: CONNECT, PUBLISH, PUBACK, SUBSCRIBE, PINGREQ and DISCONNECT.

Encoders return ``bytes`` ready for one ``transport.write``. :func:`encode_publish` is on every reading's path:
it takes an already encoded topic and joins the packet in one step.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.mqtt5.codes import MAXIMUM_PACKET_SIZE, RECEIVE_MAXIMUM, SESSION_EXPIRY_INTERVAL

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
