"""The chain of size limits: the broker's limit leaves room for the gateway's payload limit and its dead letters,
and the PUBLISH size formula matches what goes on the wire."""

from __future__ import annotations

import pytest

from devices import mqtt5
from smartcity.contract.limits import (
    BROKER_MAX_PACKET_SIZE,
    MAX_PAYLOAD_UNDER_BROKER_LIMIT,
    PUBLISH_OVERHEAD_BYTES,
    publish_packet_size,
)
from smartcity.contract.parse import ParseLimits


@pytest.mark.parametrize("payload_len", [0, 1, 100, 16_000, 16_400, 2_097_000, 2_098_000])
@pytest.mark.parametrize("qos", [0, 1])
def test_publish_packet_size_is_the_length_of_the_encoded_packet(payload_len: int, qos: int) -> None:
    topic = "city/v1/dev/aq-0001/reading"
    packet = mqtt5.encode_publish(mqtt5.encode_topic(topic), b"x" * payload_len, qos=qos, packet_id=qos)
    assert publish_packet_size(len(topic), payload_len, qos=qos) == len(packet)


def test_properties_count_with_their_length_prefix() -> None:
    base = publish_packet_size(1, 0, qos=1)  # remaining length 6, property length 0: one byte each
    assert publish_packet_size(1, 0, qos=1, properties_bytes=100) == base + 100
    # 200 bytes of properties: their length prefix and the remaining length both grow to two bytes.
    assert publish_packet_size(1, 0, qos=1, properties_bytes=200) == base + 200 + 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"qos": 3}, "QoS"), ({"qos": 1, "properties_bytes": -1}, "negative")],
)
def test_bad_arguments_are_refused(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        publish_packet_size(1, 1, **kwargs)


def test_a_packet_beyond_what_mqtt_can_encode_is_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        publish_packet_size(1, 268_435_456, qos=0)


def test_the_gateways_default_payload_limit_and_its_largest_dead_letter_fit_under_the_broker_limit() -> None:
    assert ParseLimits().max_payload_bytes <= MAX_PAYLOAD_UNDER_BROKER_LIMIT
    # The overhead really covers a 200-byte topic and a few properties.
    assert (
        publish_packet_size(200, MAX_PAYLOAD_UNDER_BROKER_LIMIT, qos=1, properties_bytes=200) <= BROKER_MAX_PACKET_SIZE
    )
    # A dead letter quotes at most 64 KiB; JSON escapes a control character as six bytes (\u0001).
    assert 6 * 65_536 + PUBLISH_OVERHEAD_BYTES < BROKER_MAX_PACKET_SIZE
