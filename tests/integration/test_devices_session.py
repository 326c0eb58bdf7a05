"""The simulator's lean MQTT 5 session against the real broker: CONNECT with will and credentials, QoS 1 with
PUBACK tracking, SUBSCRIBE, PINGREQ, clean DISCONNECT (no will) versus abort (will)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.mqtt5 import IncomingPublish, Will, encode_topic
from devices.session import MqttSession
from devices.session_errors import ConnectRefused, SessionClosed
from devices.session_options import SessionOptions
from smartcity.city.credentials import sha512_hash
from smartcity.localservices import MosquittoProcess
from smartcity.settings import MqttSettings
from tests.support.devices import Collector


def _options(mqtt: MqttSettings, client_id: str, **extra: object) -> SessionOptions:
    return SessionOptions(mqtt.host, mqtt.port, f"{client_id}-{mqtt.topic_root}", **extra)  # type: ignore[arg-type]


async def test_qos1_publishes_are_acknowledged_and_delivered(mqtt_settings: MqttSettings, topic_root: str) -> None:
    watch = await Collector().start(mqtt_settings, [f"{topic_root}/#"])
    acks: list[tuple[int, int]] = []
    session, connack = await MqttSession.open(_options(mqtt_settings, "pub"), on_ack=lambda i, r: acks.append((i, r)))
    assert connack.reason == 0
    topic = encode_topic(f"{topic_root}/a")
    ids = [session.publish(topic, f"m{n}".encode(), qos=1)[0] for n in range(50)]
    await watch.wait_for(lambda: len(watch.payloads(f"{topic_root}/a")) == 50)
    assert watch.payloads(f"{topic_root}/a") == [f"m{n}".encode() for n in range(50)]
    await asyncio.sleep(0.1)
    assert sorted(acks) == [(packet_id, 0) for packet_id in sorted(ids)]
    await session.disconnect()
    await watch.stop()


async def test_abort_fires_the_will_and_disconnect_does_not(mqtt_settings: MqttSettings, topic_root: str) -> None:
    watch = await Collector().start(mqtt_settings, [f"{topic_root}/will/+"])
    for name, end in (("aborted", "abort"), ("clean", "disconnect")):
        will = Will(f"{topic_root}/will/{name}", b"gone", qos=1, retain=False)
        session, _ = await MqttSession.open(_options(mqtt_settings, name, will=will))
        if end == "abort":
            session.abort()
        else:
            await session.disconnect()
        assert session.closed.done()
    await watch.wait_for(lambda: watch.payloads(f"{topic_root}/will/aborted") == [b"gone"])
    await asyncio.sleep(0.3)
    assert watch.payloads(f"{topic_root}/will/clean") == []
    await watch.stop()


async def test_subscription_receives_and_acknowledges(mqtt_settings: MqttSettings, topic_root: str) -> None:
    received: list[bytes] = []
    arrived = asyncio.Event()

    def on_message(message: IncomingPublish) -> None:
        received.append(message.payload)
        arrived.set()

    session, _ = await MqttSession.open(_options(mqtt_settings, "sub"), on_message=on_message)
    assert await session.subscribe([(f"{topic_root}/cmd", 1)]) == [1]
    sender, _ = await MqttSession.open(_options(mqtt_settings, "sender"))
    sender.publish(encode_topic(f"{topic_root}/cmd"), b"do it", qos=1)
    async with asyncio.timeout(5):
        await arrived.wait()
    assert received == [b"do it"]
    for s in (session, sender):
        await s.disconnect()


async def test_keepalive_ping_is_answered(mqtt_settings: MqttSettings) -> None:
    session, _ = await MqttSession.open(_options(mqtt_settings, "pinger", keepalive_s=5))
    before = session.last_rx
    session.ping_if_idle(session.last_tx + 4.0, 5)  # 4 s idle > 3/4 of the keep-alive: PINGREQ
    async with asyncio.timeout(5):
        while session.last_rx == before:  # noqa: ASYNC110  # the session has no PINGRESP hook to wait on
            await asyncio.sleep(0.01)
    assert session.connected
    session.ping_if_idle(session.last_rx + 8.0, 5)  # silent broker for 1.6 keep-alives: half-open, dropped
    assert not session.connected
    assert isinstance(session.closed.result(), SessionClosed)


async def test_bad_credentials_are_refused_with_the_reason(
    mosquitto_factory: Callable[..., MosquittoProcess], tmp_path: Path
) -> None:
    passwords = tmp_path / "passwd"
    passwords.write_text(f"dev-1:{sha512_hash('right', b'salt-of-dev1')}\n")
    broker = mosquitto_factory(password_file=passwords)
    with pytest.raises(ConnectRefused, match=r"not authorized \(reason code 0x87\)"):  # what Mosquitto 2.0 answers
        await MqttSession.open(SessionOptions("::1", broker.port, "dev-1", username="dev-1", password="wrong"))
    session, connack = await MqttSession.open(
        SessionOptions("::1", broker.port, "dev-1", username="dev-1", password="right")
    )
    assert connack.reason == 0
    await session.disconnect()


async def test_binding_to_an_address_this_machine_lacks_fails_fast(mqtt_settings: MqttSettings) -> None:
    with pytest.raises(OSError, match="assign requested address"):
        await MqttSession.open(_options(mqtt_settings, "unbound", local_address="fd12:3456:789a:1::99"))
