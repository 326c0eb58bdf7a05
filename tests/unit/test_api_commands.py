"""The command desk over the real SQLite command log and a publisher twin: what is recorded, published, settled
by an ack and expired, in which order, and what a failed publish leaves behind (nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from services.api.broker import BrokerUnavailable
from services.api.commandlog import CommandState, SqlCommandLog
from services.api.commands import CommandDesk, CommandsDisabled
from services.api.state import StateStore
from smartcity.city.model import Device
from smartcity.contract.commands import CommandRefused, Rule
from smartcity.contract.messages import Command, CommandAck
from smartcity.contract.topics import TopicScheme
from tests.support.api_support import api_city
from tests.support.api_twins import MemoryPublisher

LIGHT = next(d for d in api_city().devices if d.id == "light-n1")
DISPLAY = next(d for d in api_city().devices if d.id == "display-s1")
TOPICS = TopicScheme("unit")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.sqlite") as opened:
        yield opened


def _desk(store: StateStore, publisher: MemoryPublisher | None, clock: Clock) -> CommandDesk:
    ids = iter(f"{n:016x}" for n in range(1, 100))
    records = SqlCommandLog(store.connection, store.path)
    return CommandDesk(records, TOPICS, expiry_s=60, publisher=publisher, clock=clock, new_id=lambda: next(ids))


def _ack(device: Device, command_id: str, status: str = "ok", detail: str = "") -> tuple[str, bytes]:
    ack = CommandAck(id=command_id, status=status, ts_ms=5, detail=detail)  # type: ignore[arg-type]
    return f"unit/v1/dev/{device.id}/cmd-ack", msgspec.json.encode(ack)


async def test_a_sent_command_is_recorded_and_published_with_its_expiry(store: StateStore) -> None:
    publisher, clock = MemoryPublisher(), Clock()
    desk = _desk(store, publisher, clock)
    record = await desk.send(LIGHT, "set_dim_level", {"level": 35.0}, "key1")
    assert (record.state, record.args, record.key_id) == (CommandState.SENT, {"level": 35}, "key1")
    assert (record.sent_ms, record.expires_ms) == (clock.now, clock.now + 60_000)
    [(topic, payload, expiry_s)] = publisher.published
    assert (topic, expiry_s) == ("unit/v1/dev/light-n1/cmd", 60)
    assert msgspec.json.decode(payload, type=Command) == Command(
        id=record.command_id, name="set_dim_level", args={"level": 35}, ts_ms=clock.now
    )
    assert desk.records.get(record.command_id) == record


async def test_a_refused_or_unpublishable_command_leaves_nothing(store: StateStore) -> None:
    clock = Clock()
    failing = _desk(store, MemoryPublisher(fail=BrokerUnavailable("down")), clock)
    with pytest.raises(BrokerUnavailable):
        await failing.send(LIGHT, "set_dim_level", {"level": 5}, "key1")
    with pytest.raises(CommandRefused) as refused:
        await failing.send(DISPLAY, "set_dim_level", {"level": 5}, "key1")
    assert refused.value.rule is Rule.DEVICE_TYPE
    with pytest.raises(CommandsDisabled):
        await _desk(store, None, clock).send(LIGHT, "set_dim_level", {"level": 5}, "key1")
    assert failing.records.for_device(LIGHT.id, limit=10) == []


async def test_acks_settle_their_own_device_s_command_once(store: StateStore) -> None:
    clock = Clock()
    desk = _desk(store, MemoryPublisher(), clock)
    light = await desk.send(LIGHT, "set_dim_level", {"level": 35}, "key1")
    display = await desk.send(DISPLAY, "show_message", {"text": "hello"}, "key1")
    assert desk.on_ack(*_ack(DISPLAY, light.command_id)) is None  # another device cannot settle it
    assert desk.unmatched_acks == 1
    clock.now += 1_500
    acked = desk.on_ack(*_ack(LIGHT, light.command_id))
    assert acked is not None
    assert (acked.state, acked.ack_ms, acked.device_ms, acked.updated_ms) == (
        CommandState.ACKED,
        clock.now,
        5,
        clock.now,
    )
    assert desk.on_ack(*_ack(LIGHT, light.command_id, "rejected", "late")) is None  # a redelivered ack changes nothing
    assert desk.unmatched_acks == 1
    rejected = desk.on_ack(*_ack(DISPLAY, display.command_id, "rejected", "x" * 900))
    assert rejected is not None
    assert (rejected.state, len(rejected.detail)) == (CommandState.REJECTED, 500)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("unit/v1/dev/light-n1/cmd-ack", b"{not json"),
        ("unit/v1/dev/light-n1/cmd-ack", b'{"id": "?", "status": "rejected", "ts_ms": 0, "detail": "not a command"}'),
        ("other/v1/dev/light-n1/cmd-ack", b'{"id": "0000000000000001", "status": "ok", "ts_ms": 0}'),
        ("unit/v1/dev/light-n1/status", b'{"id": "0000000000000001", "status": "ok", "ts_ms": 0}'),
    ],
)
async def test_what_is_not_an_ack_of_a_sent_command_settles_nothing(
    store: StateStore, topic: str, payload: bytes
) -> None:
    desk = _desk(store, MemoryPublisher(), Clock())
    record = await desk.send(LIGHT, "set_dim_level", {"level": 1}, "key1")
    assert desk.on_ack(topic, payload) is None
    assert desk.records.get(record.command_id) == record


async def test_commands_expire_without_an_ack_and_a_late_ack_still_counts(store: StateStore) -> None:
    clock = Clock()
    desk = _desk(store, MemoryPublisher(), clock)
    record = await desk.send(LIGHT, "set_report_interval", {"seconds": 30}, "key1")
    clock.now += 59_999
    assert desk.expire() == 0
    clock.now += 1
    assert desk.expire() == 1
    expired = desk.records.get(record.command_id)
    assert expired is not None
    assert (expired.state, expired.updated_ms) == (CommandState.EXPIRED, clock.now)
    assert "expired" in expired.detail
    late = desk.on_ack(*_ack(LIGHT, record.command_id))
    assert late is not None
    assert (late.state, late.detail) == (CommandState.ACKED, "")
    assert desk.expire() == 0


async def test_a_device_s_commands_page_newest_first(store: StateStore) -> None:
    clock = Clock()
    desk = _desk(store, MemoryPublisher(), clock)
    sent = []
    for level in range(5):
        clock.now += 1 if level != 3 else 0  # two commands in the same millisecond
        sent.append(await desk.send(LIGHT, "set_dim_level", {"level": level}, "key1"))
    await desk.send(DISPLAY, "show_message", {"text": "other device"}, "key1")
    newest_first = sorted(sent, key=lambda r: (r.sent_ms, r.command_id), reverse=True)
    first = desk.records.for_device(LIGHT.id, limit=3)
    rest = desk.records.for_device(LIGHT.id, limit=3, before=(first[-1].sent_ms, first[-1].command_id))
    assert first + rest == newest_first
