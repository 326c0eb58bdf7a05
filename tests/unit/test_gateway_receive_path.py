"""The broker adapter reaches into paho's internals (see gateway/receive_path.py); these tests fail loudly when a paho
release changes what it relies on, before anything subtle breaks in production."""

import inspect
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.receive_path import PUBACK_PACK, FastClient


class _Chunks:
    """A socket that hands out prepared chunks, then says 'would block'."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.calls = 0

    def recv(self, _size: int) -> bytes:
        self.calls += 1
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)


def _client(sink: Any = None) -> FastClient:
    client = FastClient(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5, manual_ack=True)
    client.prepare(sink or (lambda *_args: None))
    return client


def _wire_publish(topic: str, payload: bytes, qos: int, mid: int, properties: Properties | None) -> tuple[int, bytes]:
    """A PUBLISH packet as paho itself encodes it: (first byte, bytes after the remaining length)."""
    sender = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    sender.on_socket_register_write = lambda *_args: None  # queue the packet, do not try to send it
    sender._sock = _Chunks()  # type: ignore[assignment]
    try:
        sender._send_publish(mid, topic.encode(), payload, qos, False, False, None, properties)
    finally:
        sender._sock = None
    packet = bytes(sender._out_packet[0]["packet"])
    position = 1
    while packet[position] & 0x80:
        position += 1
    return packet[0], packet[position + 1 :]


def test_the_private_paho_api_the_adapter_uses_still_exists() -> None:
    for name in ("_handle_publish", "_sock_recv", "_packet_queue", "_sock_close", "_packet_handle", "_loop_rc_handle"):
        assert callable(getattr(paho.Client, name, None)), f"paho.Client.{name} is gone: review gateway/receive_path.py"
    assert "self._handle_publish()" in inspect.getsource(paho.Client._packet_handle)
    reader = inspect.getsource(paho.Client._packet_read)
    for used in ("self._in_packet['command']", "self._packet_handle()", "self._last_bytes_received"):
        assert used in reader, f"paho's packet reader no longer uses {used}: review gateway/receive_path.py"
    assert list(inspect.signature(paho.Client._packet_queue).parameters)[:5] == [
        "self",
        "command",
        "packet",
        "mid",
        "qos",
    ]
    client = _client()
    assert {"command", "packet"} <= set(client._in_packet)


def _props() -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = ("k", "v" * 200)
    props.ContentType = "application/senml+cbor"
    return props


@pytest.mark.parametrize(
    ("qos", "mid", "properties"),
    [(0, 0, None), (1, 1, None), (1, 65535, _props()), (0, 0, _props())],
)
def test_fast_publish_decoding_agrees_with_paho(qos: int, mid: int, properties: Properties | None) -> None:
    topic, payload = "city/v1/dev/aq-1/reading", b'{"x":"\xc3\xa9"}' * 20
    command, rest = _wire_publish(topic, payload, qos, mid, properties)
    reference = _packet.decode_publish(command, rest, paho.MQTTv5)
    got: list[tuple[str, bytes, int, int, bool]] = []
    client = _client(lambda *args: got.append(args))
    client._sock = _Chunks(_frame(command, rest))  # type: ignore[assignment]
    try:
        assert client.pump(10) == (MQTTErrorCode.MQTT_ERR_SUCCESS, False)
    finally:
        client._sock = None
    assert got == [(reference.topic.decode(), reference.payload, reference.qos, reference.mid, False)]
    assert type(got[0][1]) is bytes


def test_many_pubacks_in_one_buffer_are_what_paho_would_send_one_by_one() -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5, manual_ack=True)
    for mid in (1, 300, 65535):
        client.ack(mid, 1)
    one_by_one = b"".join(bytes(packet["packet"]) for packet in client._out_packet)
    assert one_by_one == b"".join(PUBACK_PACK(paho.PUBACK, 2, mid) for mid in (1, 300, 65535))


def _frame(command: int, rest: bytes) -> bytes:
    length, encoded = len(rest), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([command]) + bytes(encoded) + rest


def test_pump_splits_chunks_into_packets_across_boundaries() -> None:
    got: list[tuple[str, bytes, int, int, bool]] = []
    client = _client(lambda *args: got.append(args))
    packets = [_frame(*_wire_publish(f"t/{i}", bytes([i]) * (i * 40), 1, i + 1, None)) for i in range(6)]
    stream = b"".join(packets) + b"\xd0\x00"  # and a PINGRESP, which paho handles
    sock = _Chunks(stream[:7], stream[7:150], stream[150:])
    client._sock = sock  # type: ignore[assignment]
    client._ping_t = 123.0  # waiting for a PINGRESP
    try:
        for _ in range(3):
            rc, more = client.pump(100)
            assert rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            assert not more
        assert got == [(f"t/{i}", bytes([i]) * (i * 40), 1, i + 1, False) for i in range(6)]
        assert client._ping_t == 0  # paho saw the PINGRESP
        assert client.pump(100) == (MQTTErrorCode.MQTT_ERR_SUCCESS, False)  # would block: nothing to do
    finally:
        client._sock = None


def test_pump_stops_at_its_budget_and_keeps_the_rest() -> None:
    got: list[tuple[str, bytes, int, int, bool]] = []
    client = _client(lambda *args: got.append(args))
    stream = b"".join(_frame(*_wire_publish("t", b"x", 0, 0, None)) for _ in range(5))
    client._sock = _Chunks(stream)  # type: ignore[assignment]
    try:
        assert client.pump(3) == (MQTTErrorCode.MQTT_ERR_SUCCESS, True)
        assert len(got) == 3
        assert client.pump(3) == (MQTTErrorCode.MQTT_ERR_SUCCESS, False)
        assert len(got) == 5
    finally:
        client._sock = None


def test_while_held_publishes_wait_in_order_and_control_packets_are_still_handled() -> None:
    got: list[tuple[str, bytes, int, int, bool]] = []
    client = _client(lambda *args: got.append(args))
    first = b"".join(_frame(*_wire_publish("t", bytes([i]), 1, i + 1, None)) for i in range(3))
    later = _frame(*_wire_publish("t", b"late", 1, 9, None))
    client._sock = _Chunks(first + b"\xd0\x00", later)  # type: ignore[assignment]
    client._ping_t = 123.0
    client.hold = True
    try:
        assert client.pump(100) == (MQTTErrorCode.MQTT_ERR_SUCCESS, False)
        assert got == []
        assert client._ping_t == 0  # the PINGRESP behind the held PUBLISHes was read: the keepalive holds
        assert [mid for *_rest, mid, _dup in client.held] == [1, 2, 3]
        assert client.held_bytes == 3
        client.hold = False
        client.pump(100)  # a newer message arrives while older ones are still held: it queues behind them
        assert got == []
        assert client.release(2) is True
        assert [mid for *_rest, mid, _dup in got] == [1, 2]
        assert client.release(100) is False
        assert [mid for *_rest, mid, _dup in got] == [1, 2, 3, 9]
        assert client.held_bytes == 0
    finally:
        client._sock = None


def test_release_stops_when_the_sink_holds_again() -> None:
    client = _client()
    got: list[int] = []

    def sink(_topic: str, _payload: bytes, _qos: int, mid: int, _dup: bool) -> None:
        got.append(mid)
        client.hold = mid >= 2  # the batch filled up: backpressure again

    client.sink = sink
    client.held.extend(("t", b"x", 1, mid, False) for mid in (1, 2, 3))
    assert client.release(100) is True
    assert got == [1, 2]


def test_a_large_packet_is_gathered_chunk_by_chunk_and_joined_once() -> None:
    got: list[tuple[str, bytes, int, int, bool]] = []
    client = _client(lambda *args: got.append(args))
    payload = bytes(range(256)) * 4096  # 1 MiB
    stream = _frame(*_wire_publish("big", payload, 1, 7, None)) + _frame(*_wire_publish("small", b"s", 1, 8, None))
    size = 64 * 1024
    client._sock = _Chunks(*(stream[i : i + size] for i in range(0, len(stream), size)))  # type: ignore[assignment]
    try:
        client.pump(100)
        for expected_parts in range(1, 15):
            client.pump(100)
            # Gathering: each chunk is kept as it came, nothing is re-concatenated (the old path copied the
            # whole buffer on every read: quadratic in the packet's size).
            assert (client._pending, len(client._parts)) == (b"", expected_parts)
        while len(got) < 2:
            client.pump(100)
        assert [(topic, len(data), mid) for topic, data, _qos, mid, _dup in got] == [
            ("big", len(payload), 7),
            ("small", 1, 8),
        ]
        assert got[0][1] == payload
        assert client._parts == []
    finally:
        client._sock = None


def test_the_dup_flag_of_a_redelivery_reaches_the_sink() -> None:
    got: list[tuple[str, bytes, int, int, bool]] = []
    client = _client(lambda *args: got.append(args))
    command, rest = _wire_publish("t", b"again", 1, 5, None)
    assert _packet.decode_publish(command | 0x08, rest, paho.MQTTv5).dup
    client._sock = _Chunks(_frame(command | 0x08, rest) + _frame(command, rest))  # type: ignore[assignment]
    try:
        client.pump(10)
    finally:
        client._sock = None
    assert got == [("t", b"again", 1, 5, True), ("t", b"again", 1, 5, False)]
