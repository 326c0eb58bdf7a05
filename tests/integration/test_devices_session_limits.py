"""The simulator against a broker's limits: a publish over the announced Maximum Packet Size is never sent (the
broker would disconnect, and the resend after every reconnect would loop) but counted as refused by reason, like
a PUBACK refusal from the broker itself."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.mqtt5 import encode_topic
from devices.outgoing import Outgoing, record_puback
from devices.session import MqttSession
from devices.session_options import SessionOptions
from devices.stats import RunStats
from smartcity.localservices import MosquittoProcess

MosquittoFactory = Callable[..., MosquittoProcess]


class Device:
    """The bookkeeping a simulated device does around its session: in-flight publishes and the run's stats."""

    def __init__(self) -> None:
        self.stats = RunStats()
        self.inflight: dict[int, Outgoing] = {}
        self.settled = asyncio.Event()

    def on_ack(self, packet_id: int, reason: int) -> None:
        record_puback(self.inflight, packet_id, reason, self.stats, "dev-1")
        if not self.inflight:
            self.settled.set()

    def publish(self, session: MqttSession, topic: str, payload: bytes) -> None:
        packet_id, _ = session.publish(encode_topic(topic), payload)
        self.inflight[packet_id] = (encode_topic(topic), payload, False)


async def test_a_publish_over_the_announced_limit_is_refused_and_counted_and_the_session_lives_on(
    mosquitto_factory: MosquittoFactory, topic_root: str
) -> None:
    broker = mosquitto_factory(max_packet_size=2048)
    device = Device()
    session, connack = await MqttSession.open(
        SessionOptions("127.0.0.1", broker.port, f"dev-{topic_root}"), on_ack=device.on_ack
    )
    assert connack.maximum_packet_size == session.maximum_packet_size == 2048
    device.publish(session, f"{topic_root}/r", b"x" * 3000)
    device.publish(session, f"{topic_root}/r", b"{}")
    async with asyncio.timeout(5):
        await device.settled.wait()
    counters = device.stats.snapshot().counters
    assert (counters.acked, counters.publish_refused) == (2, 1)
    assert counters.publish_refused_by_reason == {"packet-too-large": 1}
    assert session.connected  # the broker never saw the large one: no DISCONNECT 0x95, no resend loop
    assert "oversize" not in broker.log_since_start()
    await session.disconnect()


@pytest.fixture
def acl_broker(mosquitto_factory: MosquittoFactory, tmp_path: Path, topic_root: str) -> MosquittoProcess:
    """A broker where account ``dev-1`` (password ``pw``) may publish only under ``<root>/allowed/``."""
    password_file, acl_file = tmp_path / "passwd", tmp_path / "acl"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(password_file), "dev-1", "pw"], check=True)
    password_file.chmod(0o600)
    acl_file.write_text(f"user dev-1\ntopic write {topic_root}/allowed/#\n")
    return mosquitto_factory(password_file=password_file, acl_file=acl_file)


async def test_a_puback_refusal_from_the_broker_is_counted_by_its_reason(
    acl_broker: MosquittoProcess, topic_root: str
) -> None:
    device = Device()
    options = SessionOptions("127.0.0.1", acl_broker.port, "dev-1", username="dev-1", password="pw")
    session, _ = await MqttSession.open(options, on_ack=device.on_ack)
    device.publish(session, f"{topic_root}/allowed/r", b"{}")
    device.publish(session, f"{topic_root}/elsewhere/r", b"{}")  # Mosquitto answers PUBACK 0x87
    async with asyncio.timeout(5):
        await device.settled.wait()
    counters = device.stats.snapshot().counters
    assert (counters.publish_refused, counters.publish_refused_by_reason) == (1, {"not-authorized": 1})
    assert list(device.stats.errors) == ["dev-1: broker refused a publish (reason code 0x87): not-authorized"]
    await session.disconnect()
