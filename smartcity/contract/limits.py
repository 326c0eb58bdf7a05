"""Size limits along the ingest path, as one chain (docs/GATEWAY.md, "Size limits").

Why one module: each hop has its own limit, and a limit set in the wrong order drops data without telling anybody.
Mosquitto discards a message that is larger than a subscriber's own MQTT 5 Maximum Packet Size *as if it had
been delivered* (the publisher gets PUBACK 0x00), so the gateway may never declare a maximum below what the broker
accepts. The broker's ``max_packet_size`` is announced in CONNACK and enforced with DISCONNECT 0x95 (packet too
large), so a publisher learns of it; ``message_size_limit`` is not used because it acknowledges MQTT 3.1.1
publishers as if the message had been accepted.

The chain, smallest first:

- the gateway's payload limit (``LIMITS__MAX_PAYLOAD_BYTES``, default 64 KiB): larger payloads are dead-lettered
  as ``oversized``;
- :data:`BROKER_MAX_PACKET_SIZE`: the broker refuses larger packets (whole packet: header, topic, properties
  and payload). It is 16 times the payload limit so that the gateway's own dead letters fit under it whatever
  they quote: a 64 KiB excerpt that JSON escapes six-fold is still under 400 KiB;
- InfluxDB's request body limit (``max-body-size``, 25,000,000 bytes on 1.x): the gateway splits a batch that
  gets 413; a single point is far below it because its payload passed the gateway's limit.
"""

from __future__ import annotations

BROKER_MAX_PACKET_SIZE = 1_048_576
"""Largest MQTT packet (all of it, not just the payload) the platform's broker accepts, in bytes.

The local broker (:mod:`smartcity.localservices.mosquitto`) sets ``max_packet_size`` to this; production brokers
should too. The gateway must not declare an MQTT 5 Maximum Packet Size below it, and its payload limit must stay
below it minus :data:`PUBLISH_OVERHEAD_BYTES`."""

PUBLISH_OVERHEAD_BYTES = 1_024
"""Room for a PUBLISH's fixed header, topic, packet id and properties on top of its payload: contract topics are
under 200 bytes, the gateway and devices send at most a few properties."""

MAX_PAYLOAD_UNDER_BROKER_LIMIT = BROKER_MAX_PACKET_SIZE - PUBLISH_OVERHEAD_BYTES
"""The largest payload any component may promise to accept or send through the broker."""


def publish_packet_size(topic_bytes: int, payload_bytes: int, *, qos: int, properties_bytes: int = 0) -> int:
    """Size on the wire of an MQTT 5 PUBLISH, the quantity that Maximum Packet Size limits.

    ``topic_bytes`` is the UTF-8 length of the topic name; ``properties_bytes`` the length of the property block
    without its own length prefix."""
    if qos not in (0, 1, 2):
        raise ValueError(f"QoS must be 0, 1 or 2, not {qos}")
    if min(topic_bytes, payload_bytes, properties_bytes) < 0:
        raise ValueError("sizes cannot be negative")
    remaining = 2 + topic_bytes + (2 if qos else 0) + _varint_size(properties_bytes) + properties_bytes
    remaining += payload_bytes
    return 1 + _varint_size(remaining) + remaining


def _varint_size(value: int) -> int:
    if value > 268_435_455:
        raise ValueError(f"{value} bytes do not fit in one MQTT packet")
    size = 1
    while value >= 128:
        value >>= 7
        size += 1
    return size
