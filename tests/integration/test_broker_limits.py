"""What Mosquitto 2.0.11 really does with size limits and duplicate client ids, byte by byte on a raw socket.

These tests document the behaviour the platform's chain of limits is built on (docs/GATEWAY.md, "Size limits")
and fail when a broker release changes it:

- ``max_packet_size`` is announced in CONNACK and enforced with DISCONNECT 0x95: the publisher is told;
- ``message_size_limit`` completes the QoS 1 flow and drops the message: an MQTT 3.1.1 publisher gets a plain
  (successful) PUBACK, so it is never used;
- a subscriber's own Maximum Packet Size makes the broker discard larger messages for it as if delivered: the
  publisher gets PUBACK 0x00 and not even the broker's drop counter moves;
- a second connection on a client id closes the first without a DISCONNECT (no 0x8E in 2.0.11).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices import mqtt5
from devices.mqtt5 import Packet, PacketType
from smartcity.contract.limits import BROKER_MAX_PACKET_SIZE, publish_packet_size
from smartcity.localservices import MosquittoProcess

MosquittoFactory = Callable[..., MosquittoProcess]


class RawClient:
    """One blocking MQTT connection that shows every packet the broker sends, or that it closed the socket."""

    def __init__(self, port: int, client_id: str, *, protocol: int = 5, **connect: Any) -> None:
        """``connect``: keyword arguments of :func:`mqtt5.encode_connect` (MQTT 5 only)."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._reader = mqtt5.PacketReader()
        self._pending: list[Packet] = []
        self.closed = False
        if protocol == 5:
            self.sock.sendall(mqtt5.encode_connect(client_id, keepalive_s=30, **connect))
        else:  # MQTT 3.1.1: no properties anywhere
            body = b"\x00\x04MQTT\x04\x02" + (30).to_bytes(2, "big") + mqtt5.utf8(client_id)
            self.sock.sendall(b"\x10" + mqtt5.varint(len(body)) + body)
        packet = self.next(5.0)
        assert packet is not None, "no CONNACK"
        assert packet.type is PacketType.CONNACK
        self.connack = mqtt5.decode_connack(packet.body) if protocol == 5 else mqtt5.ConnAck(False, packet.body[1])
        assert self.connack.reason == 0

    def next(self, timeout_s: float) -> Packet | None:
        """The next packet, or None when none came within ``timeout_s`` or the broker closed the connection."""
        deadline = time.monotonic() + timeout_s
        while not self._pending and not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
            else:
                self._pending.extend(self._reader.feed(data))
        return self._pending.pop(0) if self._pending else None

    def subscribe(self, topic_filter: str) -> None:
        self.sock.sendall(mqtt5.encode_subscribe(1, [(topic_filter, 1)]))
        packet = self.next(5.0)
        assert packet is not None
        assert packet.type is PacketType.SUBACK

    def publish(self, topic: str, payload: bytes, *, packet_id: int, protocol: int = 5) -> bytes:
        if protocol == 5:
            packet = mqtt5.encode_publish(mqtt5.encode_topic(topic), payload, qos=1, packet_id=packet_id)
        else:
            body = mqtt5.utf8(topic) + packet_id.to_bytes(2, "big") + payload
            packet = b"\x32" + mqtt5.varint(len(body)) + body
        self.sock.sendall(packet)
        return packet

    def received_payload_sizes(self, timeout_s: float) -> list[int]:
        """Payload sizes of the PUBLISHes that arrive within ``timeout_s`` (each acknowledged)."""
        sizes: list[int] = []
        while (packet := self.next(timeout_s)) is not None:
            if packet.type is PacketType.PUBLISH:
                message = mqtt5.decode_publish(packet.flags, packet.body)
                sizes.append(len(message.payload))
                self.sock.sendall(mqtt5.encode_puback(message.packet_id))
        return sizes

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def clients() -> Iterator[Callable[..., RawClient]]:
    opened: list[RawClient] = []

    def connect(port: int, client_id: str, **kwargs: Any) -> RawClient:
        client = RawClient(port, client_id, **kwargs)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()


def _payload_for_packet_of(size: int, topic: str) -> bytes:
    """A payload that makes a QoS 1 PUBLISH (no properties) on ``topic`` exactly ``size`` bytes long."""
    payload_len = size - publish_packet_size(len(topic.encode()), 0, qos=1)
    while publish_packet_size(len(topic.encode()), payload_len, qos=1) > size:
        payload_len -= 1  # the remaining-length field grew by a byte
    assert publish_packet_size(len(topic.encode()), payload_len, qos=1) == size
    return b"x" * payload_len


def _puback(packet: Packet | None) -> tuple[int, int]:
    assert packet is not None, "no PUBACK"
    assert packet.type is PacketType.PUBACK, packet.type
    return mqtt5.decode_ack(packet.body)


# -- max_packet_size: announced and refused with a reason code ---------------------------------------------------
def test_max_packet_size_is_announced_in_connack_and_enforced_with_disconnect_0x95(
    mosquitto_factory: MosquittoFactory, clients: Callable[..., RawClient], topic_root: str
) -> None:
    broker = mosquitto_factory(max_packet_size=4096)
    topic = f"{topic_root}/limit"
    subscriber = clients(broker.port, "sub")
    subscriber.subscribe(topic)
    publisher = clients(broker.port, "pub")
    assert publisher.connack.maximum_packet_size == 4096

    payload = _payload_for_packet_of(4096, topic)
    assert len(publisher.publish(topic, payload, packet_id=1)) == 4096  # the limit counts the whole packet
    assert _puback(publisher.next(5.0)) == (1, 0x00)
    assert subscriber.received_payload_sizes(1.0) == [len(payload)]

    # Mosquitto compares remaining length + 1 with the limit, not the whole packet: the 2 bytes of this packet's
    # remaining-length field are admitted on top. A client that respects the announced value is always admitted.
    publisher.publish(topic, _payload_for_packet_of(4098, topic), packet_id=2)
    assert _puback(publisher.next(5.0)) == (2, 0x00)
    assert subscriber.received_payload_sizes(1.0) == [len(payload) + 2]

    publisher.publish(topic, _payload_for_packet_of(4099, topic), packet_id=3)
    disconnect = publisher.next(5.0)
    assert disconnect is not None
    assert disconnect.type is PacketType.DISCONNECT  # no PUBACK: the publish is simply not taken
    assert mqtt5.decode_disconnect(disconnect.body).reason == mqtt5.PACKET_TOO_LARGE
    assert publisher.next(2.0) is None
    assert publisher.closed
    assert subscriber.received_payload_sizes(1.0) == []
    assert "disconnected due to oversize packet" in broker.log_since_start()


def test_max_packet_size_closes_an_mqtt311_publisher_without_telling_it_why(
    mosquitto_factory: MosquittoFactory, clients: Callable[..., RawClient], topic_root: str
) -> None:
    broker = mosquitto_factory(max_packet_size=4096)
    publisher = clients(broker.port, "pub311", protocol=4)
    publisher.publish(f"{topic_root}/limit", b"x" * 5000, packet_id=1, protocol=4)
    assert publisher.next(5.0) is None  # MQTT 3.1.1 has no server DISCONNECT: the socket just closes
    assert publisher.closed


def test_the_platform_broker_admits_exactly_its_limit(
    mosquitto: MosquittoProcess, clients: Callable[..., RawClient], topic_root: str
) -> None:
    topic = f"{topic_root}/platform-limit"
    subscriber = clients(mosquitto.port, f"sub-{topic_root}")
    subscriber.subscribe(topic)
    publisher = clients(mosquitto.port, f"pub-{topic_root}")
    assert publisher.connack.maximum_packet_size == BROKER_MAX_PACKET_SIZE

    publisher.publish(topic, _payload_for_packet_of(BROKER_MAX_PACKET_SIZE, topic), packet_id=1)
    assert _puback(publisher.next(5.0)) == (1, 0x00)
    assert len(subscriber.received_payload_sizes(2.0)) == 1
    # + 3: the 3 bytes of the remaining-length field are not counted by Mosquitto (see the test above).
    # Mosquitto decides on the remaining-length field alone and closes the socket at once: sending the whole
    # 1 MiB would race that close (ECONNRESET), so only the fixed header and the topic go out.
    oversized = mqtt5.encode_publish(
        mqtt5.encode_topic(topic), _payload_for_packet_of(BROKER_MAX_PACKET_SIZE + 4, topic), qos=1, packet_id=2
    )
    publisher.sock.sendall(oversized[:64])
    disconnect = publisher.next(5.0)
    assert disconnect is not None
    assert mqtt5.decode_disconnect(disconnect.body).reason == mqtt5.PACKET_TOO_LARGE


# -- message_size_limit: acknowledged, then dropped --------------------------------------------------------------
@pytest.mark.parametrize(("protocol", "puback_body"), [(5, b"\x00\x01\x95"), (4, b"\x00\x01")])
def test_message_size_limit_acknowledges_and_drops(
    mosquitto_factory: MosquittoFactory,
    clients: Callable[..., RawClient],
    topic_root: str,
    protocol: int,
    puback_body: bytes,
) -> None:
    broker = mosquitto_factory(max_packet_size=None, extra_conf="message_size_limit 1000")
    topic = f"{topic_root}/message-limit"
    subscriber = clients(broker.port, "sub")
    subscriber.subscribe(topic)
    publisher = clients(broker.port, "pub", protocol=protocol)
    assert publisher.connack.maximum_packet_size == 0  # nothing announced: a client cannot stay under it

    publisher.publish(topic, b"x" * 1001, packet_id=1, protocol=protocol)
    puback = publisher.next(5.0)
    assert puback is not None
    assert puback.type is PacketType.PUBACK
    # MQTT 5: 0x95 packet too large (the man page says 0x83). MQTT 3.1.1: a PUBACK like any success.
    assert puback.body == puback_body
    assert publisher.next(2.0) is None
    assert publisher.closed  # ... and then the broker closes the connection
    assert subscriber.received_payload_sizes(1.0) == []


# -- a subscriber's own Maximum Packet Size: discarded as if delivered ---------------------------------------------
def test_subscriber_maximum_packet_size_discards_larger_messages_as_if_delivered(
    mosquitto_factory: MosquittoFactory, clients: Callable[..., RawClient], topic_root: str
) -> None:
    broker = mosquitto_factory()
    topic = f"{topic_root}/small-subscriber"
    small = clients(broker.port, "small", maximum_packet_size=512)
    small.subscribe(topic)
    publisher = clients(broker.port, "pub")

    publisher.publish(topic, b"x" * 600, packet_id=1)
    assert _puback(publisher.next(5.0)) == (1, 0x00)  # success: the publisher cannot know
    publisher.publish(topic, b"y" * 100, packet_id=2)
    assert _puback(publisher.next(5.0)) == (2, 0x00)
    assert small.received_payload_sizes(1.5) == [100]  # the connection is fine, the large one is gone
    assert "Dropping too large outgoing PUBLISH for small" in broker.log_since_start()

    monitor = clients(broker.port, "monitor")
    monitor.subscribe("$SYS/broker/publish/messages/dropped")
    dropped = monitor.next(5.0)
    assert dropped is not None
    assert mqtt5.decode_publish(dropped.flags, dropped.body).payload == b"0"  # not even counted as dropped


# -- one client id, two connections ------------------------------------------------------------------------------
def test_a_second_connection_on_a_client_id_closes_the_first_without_a_disconnect(
    mosquitto_factory: MosquittoFactory, clients: Callable[..., RawClient]
) -> None:
    broker = mosquitto_factory()
    first = clients(broker.port, "gateway")
    clients(broker.port, "gateway")
    assert first.next(3.0) is None  # no DISCONNECT 0x8E (session taken over): Mosquitto 2.0.11 just closes
    assert first.closed
    assert "Client gateway already connected, closing old connection." in broker.log_since_start()


def test_two_paho_clients_on_one_client_id_keep_taking_over_each_other(mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory()
    lock = threading.Lock()
    events: list[tuple[str, str, int]] = []  # (client, "disconnect", reason code)

    def client(name: str) -> mqtt.Client:
        paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="gateway", protocol=mqtt.MQTTv5)
        paho.reconnect_delay_set(min_delay=1, max_delay=1)

        def on_disconnect(_c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: Properties | None) -> None:
            with lock:
                events.append((name, "disconnect", rc.value))

        paho.on_disconnect = on_disconnect
        paho.connect("127.0.0.1", broker.port)
        paho.loop_start()
        return paho

    a = client("a")
    time.sleep(0.5)
    b = client("b")
    try:
        time.sleep(3.0)
        with lock:
            losses = [(name, code) for name, kind, code in events if kind == "disconnect"]
    finally:
        for paho in (a, b):
            paho.disconnect()
            paho.loop_stop()
    # Each reconnect displaces the other one: paho sees a lost connection (its 0x80), never 0x8E.
    assert len(losses) >= 3
    assert {name for name, _ in losses} == {"a", "b"}
    assert {code for _, code in losses} == {0x80}
    assert broker.log_since_start().count("already connected, closing old connection") >= 3
