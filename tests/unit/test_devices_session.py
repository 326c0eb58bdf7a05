"""The simulator's MQTT session against an in-memory transport: what it does with the broker's size limit and with
a DISCONNECT that names a reason (the real broker's side is in tests/integration/test_devices_session_limits.py)."""

from __future__ import annotations

import asyncio

import pytest

from devices import mqtt5
from devices.mqtt5 import IncomingPublish
from devices.session import MqttSession
from devices.session_errors import BrokerDisconnected, SessionClosed


class MemoryTransport(asyncio.Transport):
    """Keeps what the session writes; closing ends the connection as a socket would."""

    def __init__(self, session: MqttSession) -> None:
        super().__init__()
        self.session = session
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        if not self.closing:
            self.closing = True
            self.session.connection_lost(None)

    def close(self) -> None:
        self.abort()

    def get_write_buffer_size(self) -> int:
        return 0


def _session(acks: list[tuple[int, int]], maximum_packet_size: int) -> tuple[MqttSession, MemoryTransport]:
    messages: list[IncomingPublish] = []
    session = MqttSession("dev-1", messages.append, lambda packet_id, reason: acks.append((packet_id, reason)))
    transport = MemoryTransport(session)
    session.connection_made(transport)
    session.maximum_packet_size = maximum_packet_size
    return session, transport


TOPIC = mqtt5.encode_topic("c/v1/dev/dev-1/reading")


async def test_a_publish_over_the_brokers_maximum_is_not_sent_but_refused_with_0x95() -> None:
    acks: list[tuple[int, int]] = []
    session, transport = _session(acks, maximum_packet_size=200)
    packet_id, packet = session.publish(TOPIC, b"x" * 300, packet_id=5)
    assert (packet_id, len(packet) > 200) == (5, True)
    assert transport.written == []
    assert acks == []  # reported on the next loop iteration, like a PUBACK, never inside the caller's flush
    await asyncio.sleep(0)
    assert acks == [(5, mqtt5.PACKET_TOO_LARGE)]
    assert session.connected  # the broker never saw it, so the connection lives on


async def test_a_joined_burst_sends_the_packets_that_fit_and_refuses_the_others() -> None:
    acks: list[tuple[int, int]] = []
    session, transport = _session(acks, maximum_packet_size=200)
    small = [mqtt5.encode_publish(TOPIC, b"{}", qos=1, packet_id=n) for n in (1, 3)]
    large = mqtt5.encode_publish(TOPIC, b"x" * 300, qos=1, packet_id=2)
    session.send(small[0] + large + small[1])
    await asyncio.sleep(0)
    assert transport.written == [small[0] + small[1]]
    assert acks == [(2, mqtt5.PACKET_TOO_LARGE)]


async def test_without_an_announced_maximum_everything_is_sent() -> None:
    acks: list[tuple[int, int]] = []
    session, transport = _session(acks, maximum_packet_size=0)
    session.publish(TOPIC, b"x" * 100_000, packet_id=9)
    await asyncio.sleep(0)
    assert len(transport.written) == 1
    assert acks == []


@pytest.mark.parametrize(("body", "reason"), [(b"\x95", 0x95), (b"\x8e\x00", 0x8E)])
async def test_a_disconnect_with_a_reason_ends_the_session_and_keeps_the_reason(body: bytes, reason: int) -> None:
    session, _ = _session([], maximum_packet_size=0)
    session.data_received(b"\xe0" + mqtt5.varint(len(body)) + body)
    error = await session.closed
    assert isinstance(error, BrokerDisconnected)
    assert isinstance(error, SessionClosed)
    assert error.reason == reason == session.disconnect_reason
    assert mqtt5.reason_name(reason) in str(error)
    assert not session.connected


async def test_a_connection_that_just_closes_has_no_disconnect_reason() -> None:
    session, transport = _session([], maximum_packet_size=0)
    transport.abort()
    assert isinstance(await session.closed, SessionClosed)
    assert session.disconnect_reason is None
