"""The simulator's MQTT 5 codec, byte by byte (OASIS MQTT 5.0 examples and round trips)."""

from __future__ import annotations

import time

import pytest

from devices import mqtt5
from devices.mqtt5 import PacketReader, PacketType, ProtocolError, Will


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01")],
)
def test_varint_matches_the_specification_examples(value: int, encoded: bytes) -> None:
    assert mqtt5.varint(value) == encoded
    assert mqtt5.read_varint(encoded, 0) == (value, len(encoded))


def test_varint_refuses_values_beyond_four_bytes() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        mqtt5.varint(268_435_456)


def test_connect_carries_will_credentials_and_session_expiry() -> None:
    packet = mqtt5.encode_connect(
        "dev-1",
        keepalive_s=30,
        clean_start=False,
        username="dev-1",
        password=b"pw",
        will=Will("c/v1/dev/dev-1/status", b"off", qos=1, retain=True),
        session_expiry_s=300,
    )
    assert packet[0] == 0x10
    body = packet[2:]
    assert body[:7] == b"\x00\x04MQTT\x05"
    flags = body[7]
    assert flags == 0x80 | 0x40 | 0x20 | 0x08 | 0x04  # user, password, will retain, will QoS 1, will; no clean start
    assert body[8:10] == (30).to_bytes(2, "big")
    assert body[10:16] == b"\x05\x11\x00\x00\x01\x2c"  # properties: session expiry 300
    assert body.endswith(b"\x00\x05dev-1\x00\x02pw")


def test_publish_qos1_round_trips_through_the_reader() -> None:
    topic = mqtt5.encode_topic("c/v1/dev/d/reading")
    packet = mqtt5.encode_publish(topic, b"{}", qos=1, packet_id=513, retain=True)
    [parsed] = PacketReader().feed(packet)
    assert parsed.type is PacketType.PUBLISH
    message = mqtt5.decode_publish(parsed.flags, parsed.body)
    assert (message.topic, message.payload, message.qos, message.packet_id, message.retain) == (
        "c/v1/dev/d/reading",
        b"{}",
        1,
        513,
        True,
    )
    assert mqtt5.set_dup(packet)[0] & 0x08


def test_reader_reassembles_packets_split_anywhere() -> None:
    stream = mqtt5.encode_puback(7) + b"\xd0\x00" + mqtt5.encode_puback(8, 0x87)
    for cut in range(len(stream) + 1):
        reader = PacketReader()
        packets = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [p.type for p in packets] == [PacketType.PUBACK, PacketType.PINGRESP, PacketType.PUBACK]
        assert mqtt5.decode_ack(packets[2].body) == (8, 0x87)


def test_connack_properties_are_read() -> None:
    body = b"\x00\x00\x03\x21\x00\x0a"
    connack = mqtt5.decode_connack(body)
    assert connack.receive_maximum == 10
    assert not connack.session_present


def test_unknown_property_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="0x7f"):
        mqtt5.read_properties(b"\x02\x7f\x00", 0)


def test_subscribe_and_disconnect_encodings() -> None:
    assert mqtt5.encode_subscribe(1, [("a/b", 1)]) == b"\x82\x09\x00\x01\x00\x00\x03a/b\x01"
    assert mqtt5.encode_disconnect() == b"\xe0\x00"
    assert mqtt5.encode_disconnect(0, session_expiry_s=0) == b"\xe0\x07\x00\x05\x11\x00\x00\x00\x00"
    with pytest.raises(ValueError, match="at least one"):
        mqtt5.encode_subscribe(1, [])


def test_reader_reassembles_a_stream_fed_byte_by_byte() -> None:
    topic = mqtt5.encode_topic("c/v1/dev/d/cmd")
    stream = b"".join(mqtt5.encode_publish(topic, bytes([n]) * 300, qos=1, packet_id=n + 1) for n in range(3))
    reader = PacketReader()
    packets = [packet for i in range(len(stream)) for packet in reader.feed(stream[i : i + 1])]
    assert [mqtt5.decode_publish(p.flags, p.body).payload for p in packets] == [bytes([n]) * 300 for n in range(3)]
    assert reader.empty


def test_reader_is_linear_in_a_large_packet_arriving_in_small_reads() -> None:
    # Re-joining the buffer on every read copies ~32 GB here (8 MiB in 8,192 reads): 8 s instead of 0.03 s.
    packet = mqtt5.encode_publish(mqtt5.encode_topic("t"), b"x" * (8 << 20), qos=0)
    reader = PacketReader()
    started = time.perf_counter()
    packets = [p for start in range(0, len(packet), 1024) for p in reader.feed(packet[start : start + 1024])]
    assert time.perf_counter() - started < 2.0
    assert len(packets) == 1
    assert len(mqtt5.decode_publish(packets[0].flags, packets[0].body).payload) == 8 << 20
    assert reader.empty


def test_connect_declares_a_maximum_packet_size_and_connack_announces_one() -> None:
    packet = mqtt5.encode_connect("d", keepalive_s=30, maximum_packet_size=4096)
    assert packet[12:18] == b"\x05\x27\x00\x00\x10\x00"  # property block: Maximum Packet Size 4096
    assert mqtt5.decode_connack(b"\x00\x00\x05\x27\x00\x10\x00\x00").maximum_packet_size == 1_048_576
    assert mqtt5.decode_connack(b"\x00\x00\x00").maximum_packet_size == 0  # none announced


@pytest.mark.parametrize(
    ("body", "reason", "text"),
    [(b"", 0x00, ""), (b"\x95", 0x95, ""), (b"\x8e\x00", 0x8E, ""), (b"\x95\x05\x1f\x00\x02ab", 0x95, "ab")],
)
def test_disconnect_reason_and_reason_string_are_read(body: bytes, reason: int, text: str) -> None:
    assert mqtt5.decode_disconnect(body) == mqtt5.Disconnect(reason, text)


def test_reason_codes_have_names_and_unknown_ones_read_as_hex() -> None:
    assert mqtt5.reason_name(mqtt5.PACKET_TOO_LARGE) == "packet-too-large"
    assert mqtt5.reason_name(0x8E) == "session-taken-over"
    assert mqtt5.reason_name(0xEE) == "0xee"


def test_a_joined_burst_splits_into_its_packets_and_publish_ids_are_read() -> None:
    topic = mqtt5.encode_topic("c/v1/dev/d/reading")
    burst = [mqtt5.encode_publish(topic, b"{}", qos=1, packet_id=7), mqtt5.encode_publish(topic, b"[]", qos=0)]
    assert mqtt5.iter_packets(b"".join(burst)) == burst
    assert [mqtt5.publish_packet_id(packet) for packet in burst] == [7, 0]
    with pytest.raises(ValueError, match="inside a packet"):
        mqtt5.iter_packets(burst[0][:-1])
    with pytest.raises(ValueError, match="not a PUBLISH"):
        mqtt5.publish_packet_id(mqtt5.encode_puback(7))
