"""The password and ACL files of ``smartcity city credentials`` against a real Mosquitto 2.0.

Each "never arrives" check publishes the forbidden message first, waits for its PUBACK, then publishes an allowed
marker: the broker routes a message before it acknowledges it, so once the marker is in, the forbidden message would
have been delivered too.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from smartcity.city.credentials import HashScheme, device_password, service_password, write_credentials
from smartcity.city.generate import generate_city
from smartcity.city.model import City
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.localservices import MosquittoProcess

SECRET = b"integration-test-deployment-secret"
TIMEOUT_S = 5.0


class Session:
    """A paho MQTT 5 client that records what it receives and the reason codes of its PUBACKs."""

    def __init__(self, broker: MosquittoProcess, username: str, password: str) -> None:
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.pubacks: dict[int, ReasonCode] = {}
        self._connack: queue.Queue[ReasonCode] = queue.Queue()
        self._subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{username}-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, flags, rc, props: self._connack.put(rc)
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self._subacks.put(rcs)
        self.client.on_message = lambda c, u, msg: self.received.put((msg.topic, bytes(msg.payload)))
        self.client.on_publish = self._on_publish
        self.client.connect("::1", broker.port)
        self.client.loop_start()
        self.connack = self._connack.get(timeout=TIMEOUT_S)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: ReasonCode, properties: Any) -> None:
        self.pubacks[mid] = reason

    def subscribe(self, *filters: str) -> None:
        for topic_filter in filters:
            self.client.subscribe(topic_filter, qos=1)
            assert all(not rc.is_failure for rc in self._subacks.get(timeout=TIMEOUT_S))

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=TIMEOUT_S)
        return self.pubacks[info.mid]

    def until(self, payload: bytes) -> list[tuple[str, bytes]]:
        """Everything received up to and including the message carrying ``payload``."""
        seen = []
        while True:
            message = self.received.get(timeout=TIMEOUT_S)
            seen.append(message)
            if message[1] == payload:
                return seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(devices=40, seed=21)


@pytest.fixture
def topics(topic_root: str) -> TopicScheme:
    return TopicScheme(topic_root)


@pytest.fixture
def broker(
    city: City, topics: TopicScheme, tmp_path: Path, mosquitto_factory: Callable[..., MosquittoProcess]
) -> MosquittoProcess:
    files = write_credentials(city, SECRET, tmp_path / "auth", topic_root=topics.root)
    return mosquitto_factory(password_file=files.password_file, acl_file=files.acl_file)


@pytest.fixture
def connect(broker: MosquittoProcess) -> Iterator[Callable[[str], Session]]:
    sessions: list[Session] = []

    def open_session(username: str) -> Session:
        services = {"gateway", "api", "netserver"}
        password = service_password(SECRET, username) if username in services else device_password(SECRET, username)
        session = Session(broker, username, password)
        assert not session.connack.is_failure, f"{username}: {session.connack}"
        sessions.append(session)
        return session

    yield open_session
    for session in sessions:
        session.close()


def test_a_device_publishes_its_own_reading(city: City, topics: TopicScheme, connect: Callable[[str], Session]) -> None:
    gateway = connect("gateway")
    gateway.subscribe(topics.device_filter(TopicKind.READING))
    device = city.devices[0].id
    assert not connect(device).publish(topics.device(device, TopicKind.READING), b"own").is_failure
    assert gateway.until(b"own") == [(topics.device(device, TopicKind.READING), b"own")]


def test_a_device_cannot_publish_as_another(city: City, topics: TopicScheme, connect: Callable[[str], Session]) -> None:
    gateway = connect("gateway")
    gateway.subscribe(topics.device_filter(TopicKind.READING), topics.device_filter(TopicKind.STATUS))
    mallory, victim = city.devices[0].id, city.devices[1].id
    for kind in (TopicKind.READING, TopicKind.STATUS):
        # a fresh session each time: with max_queued_messages 0, Mosquitto 2.0.11 also closes the connection of a
        # client whose publish it refused (after the PUBACK)
        refused = connect(mallory).publish(topics.device(victim, kind), b"forged")
        assert refused.value == 135, refused  # MQTT 5 PUBACK "Not authorized"
    connect(mallory).publish(topics.device(mallory, TopicKind.READING), b"marker")
    assert [payload for _, payload in gateway.until(b"marker")] == [b"marker"]


def test_a_wrong_password_is_refused(city: City, broker: MosquittoProcess) -> None:
    device = city.devices[0].id
    for username, password in ((device, "not-the-password"), (device, device_password(SECRET, city.devices[1].id))):
        session = Session(broker, username, password)
        try:
            assert session.connack.is_failure
            assert session.connack.value in (134, 135)  # bad user name or password / not authorized
        finally:
            session.close()


def test_a_device_reads_only_its_own_commands(
    city: City, topics: TopicScheme, connect: Callable[[str], Session]
) -> None:
    own, other = city.devices[2].id, city.devices[3].id
    device = connect(own)
    device.subscribe(topics.device_filter(TopicKind.COMMAND), f"{topics.root}/#")
    api = connect("api")
    api.publish(topics.device(other, TopicKind.COMMAND), b"for the other device")
    api.publish(topics.device(own, TopicKind.COMMAND), b"for me")
    received = device.until(b"for me")
    assert {payload for _, payload in received} == {b"for me"}
    assert {topic for topic, _ in received} == {topics.device(own, TopicKind.COMMAND)}


def test_the_gateway_receives_everything_it_needs_through_a_shared_subscription(
    city: City, topics: TopicScheme, connect: Callable[[str], Session]
) -> None:
    kinds = [TopicKind.READING, TopicKind.SENML, TopicKind.SENML_CBOR, TopicKind.STATUS, TopicKind.BIRTH,
             TopicKind.COMMAND_ACK]  # fmt: skip
    gateway = connect("gateway")
    gateway.subscribe(*(f"$share/ingest/{topics.device_filter(kind)}" for kind in kinds))
    device_id = city.devices[4].id
    device = connect(device_id)
    for kind in kinds:
        assert not device.publish(topics.device(device_id, kind), kind.value.encode()).is_failure
    narrowband = next(d.id for d in city.devices if d.network == "narrowband")
    netserver = connect("netserver")
    assert not netserver.publish(topics.device(narrowband, TopicKind.SENML_CBOR), b"pack").is_failure
    assert netserver.publish(topics.device(narrowband, TopicKind.READING), b"not for netserver").value == 135
    device.publish(topics.device(device_id, TopicKind.READING), b"marker")
    payloads = [payload for _, payload in gateway.until(b"marker")]
    assert sorted(payloads) == sorted([*(kind.value.encode() for kind in kinds), b"pack", b"marker"])
    assert not gateway.publish(topics.dead_letter("malformed-json"), b"{").is_failure
    assert gateway.publish(topics.device(device_id, TopicKind.COMMAND), b"gateway sends no commands").value == 135


def test_sha512_password_files_are_accepted_too(
    city: City, topic_root: str, tmp_path: Path, mosquitto_factory: Callable[..., MosquittoProcess]
) -> None:
    files = write_credentials(city, SECRET, tmp_path / "sha512", topic_root=topic_root, scheme=HashScheme.SHA512)
    assert files.password_file.read_text().splitlines()[0].startswith("gateway:$6$")
    broker = mosquitto_factory(password_file=files.password_file, acl_file=files.acl_file)
    device = city.devices[0].id
    for password, refused in ((device_password(SECRET, device), False), ("wrong", True)):
        session = Session(broker, device, password)
        try:
            assert session.connack.is_failure is refused, session.connack
        finally:
            session.close()


def test_the_api_account_reads_live_dead_letters_and_a_device_does_not(
    city: City, topics: TopicScheme, connect: Callable[[str], Session]
) -> None:
    api = connect("api")
    api.subscribe(topics.dead_letter_filter())
    device = connect(city.devices[5].id)
    device.subscribe(topics.dead_letter_filter(), topics.device_filter(TopicKind.COMMAND))
    gateway = connect("gateway")
    assert not gateway.publish(topics.dead_letter("malformed-json"), b"letter").is_failure
    api.publish(topics.device(city.devices[5].id, TopicKind.COMMAND), b"marker")
    assert [payload for _, payload in api.until(b"letter")] == [b"letter"]
    assert {payload for _, payload in device.until(b"marker")} == {b"marker"}  # never the dead letter
