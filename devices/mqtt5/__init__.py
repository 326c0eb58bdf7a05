"""MQTT 5 packet codec: the subset a simulated device speaks (OASIS MQTT 5.0, chapter 3).

CONNECT (will, credentials, session expiry, receive maximum), PUBLISH QoS 0/1, PUBACK, SUBSCRIBE, SUBACK,
PINGREQ/PINGRESP and DISCONNECT. QoS 2 is not used by the contract and is refused when received.
Kept free of I/O so that unit tests cover it byte by byte. The codec's names are imported from here
(``from devices import mqtt5``); they live in:

- :mod:`devices.mqtt5.codes`: packet types, property identifiers, reason codes and their slugs;
- :mod:`devices.mqtt5.encode`: the packets a device sends, as ``bytes`` ready for one ``transport.write``;
- :mod:`devices.mqtt5.decode`: the packets the broker sends, and reading back encoded ones;
- :mod:`devices.mqtt5.reader`: :class:`PacketReader`, which splits a byte stream into packets.
"""

from __future__ import annotations

from devices.mqtt5.codes import (
    MAXIMUM_PACKET_SIZE,
    PACKET_TOO_LARGE,
    REASON_NAMES,
    REASON_STRING,
    RECEIVE_MAXIMUM,
    SESSION_EXPIRY_INTERVAL,
    PacketType,
    reason_name,
)
from devices.mqtt5.decode import (
    ConnAck,
    Disconnect,
    IncomingPublish,
    Packet,
    ProtocolError,
    decode_ack,
    decode_connack,
    decode_disconnect,
    decode_publish,
    decode_suback,
    iter_packets,
    publish_packet_id,
    read_properties,
    read_varint,
)
from devices.mqtt5.encode import (
    DISCONNECT_NORMAL,
    MAX_REMAINING_LENGTH,
    PINGREQ,
    Will,
    binary,
    encode_connect,
    encode_disconnect,
    encode_puback,
    encode_publish,
    encode_subscribe,
    encode_topic,
    set_dup,
    utf8,
    varint,
)
from devices.mqtt5.reader import PacketReader

__all__ = [
    "DISCONNECT_NORMAL",
    "MAXIMUM_PACKET_SIZE",
    "MAX_REMAINING_LENGTH",
    "PACKET_TOO_LARGE",
    "PINGREQ",
    "REASON_NAMES",
    "REASON_STRING",
    "RECEIVE_MAXIMUM",
    "SESSION_EXPIRY_INTERVAL",
    "ConnAck",
    "Disconnect",
    "IncomingPublish",
    "Packet",
    "PacketReader",
    "PacketType",
    "ProtocolError",
    "Will",
    "binary",
    "decode_ack",
    "decode_connack",
    "decode_disconnect",
    "decode_publish",
    "decode_suback",
    "encode_connect",
    "encode_disconnect",
    "encode_puback",
    "encode_publish",
    "encode_subscribe",
    "encode_topic",
    "iter_packets",
    "publish_packet_id",
    "read_properties",
    "read_varint",
    "reason_name",
    "set_dup",
    "utf8",
    "varint",
]
