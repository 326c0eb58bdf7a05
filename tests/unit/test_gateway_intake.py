import asyncio
import json
import time

from gateway.health import HealthSnapshot
from smartcity.contract.topics import TopicKind
from tests.support.contract import topic
from tests.support.gateway_harness import build, reading


async def test_valid_readings_become_points_with_registry_tags() -> None:
    parts = build()
    parts.intake.on_message(topic("aq-1"), reading("aq-1", 0, no2=20.0, battery=50.0), 1, 11)
    parts.intake.seal()
    (batch,) = parts.sealed
    assert batch.mids == [11]
    assert len(batch.lines) == 2  # air_quality and device_vitals
    assert all(",district=d1," in line and ",facility=f-school," in line for line in batch.lines)
    assert batch.topics == [topic("aq-1")] * 2
    assert parts.metrics.readings_accepted._value.get() == 1
    assert parts.metrics.messages_received.labels("reading")._value.get() == 1


async def test_rejections_are_dead_lettered_and_the_message_still_acked_with_its_batch() -> None:
    parts = build()
    parts.intake.on_message(topic("aq-1"), b"{not json", 1, 1)
    parts.intake.on_message(topic("ghost-1"), reading("ghost-1"), 1, 2)
    parts.intake.on_message(topic("aq-1"), reading("aq-1", 0, no2=1e9), 1, 3)
    parts.intake.on_message(topic("aq-1"), reading("aq-1", 1), 1, 4)
    parts.intake.seal()
    (batch,) = parts.sealed
    assert batch.mids == [1, 2, 3, 4]
    reasons = [json.loads(payload)["reason"] for _topic, payload in parts.broker.published]
    assert reasons == ["malformed-json", "unknown-device", "out-of-range"]
    # The dead letters are points of the same batch: durable with it, before its messages are acked.
    assert batch.dead_letters == 3
    stored = [line.split(" ")[0] for line in batch.lines if line.startswith("dead_letters,")]
    assert stored == [
        "dead_letters,device=aq-1,gateway=gateway,reason=malformed-json",
        "dead_letters,gateway=gateway,reason=unknown-device",
        "dead_letters,device=aq-1,gateway=gateway,reason=out-of-range",
    ]
    assert batch.topics.count("") == 3
    assert len(batch.lines) == 4


async def test_qos0_messages_have_nothing_to_ack() -> None:
    parts = build()
    parts.intake.on_message(topic("aq-1"), reading("aq-1"), 0, 0)
    parts.intake.seal()
    assert parts.sealed[0].mids == []


async def test_a_batch_is_sealed_by_size() -> None:
    parts = build(batch_size=3)
    for seq in range(7):
        parts.intake.on_message(topic("aq-1"), reading("aq-1", seq), 1, seq + 1)
    assert [len(batch.lines) for batch in parts.sealed] == [3, 3]
    assert [batch.mids for batch in parts.sealed] == [[1, 2, 3], [4, 5, 6]]


async def test_a_batch_is_sealed_by_time() -> None:
    parts = build(batch_size=1000, batch_ms=10)
    parts.intake.on_message(topic("aq-1"), reading("aq-1"), 1, 1)
    assert parts.sealed == []
    await asyncio.sleep(0.05)
    assert [batch.mids for batch in parts.sealed] == [[1]]


async def test_duplicates_are_counted_and_written_harmlessly() -> None:
    parts = build()
    payload = reading("aq-1", 5)
    for mid in (1, 2, 3):
        parts.intake.on_message(topic("aq-1"), payload, 1, mid)
    parts.intake.seal()
    (batch,) = parts.sealed
    assert parts.metrics.duplicates._value.get() == 2
    assert len(set(batch.lines)) == 1  # the same point three times: InfluxDB keeps one
    assert batch.mids == [1, 2, 3]  # duplicates are acknowledged like any other message


async def test_status_and_birth_update_device_health() -> None:
    parts = build()
    status = json.dumps({"state": "offline", "ts_ms": 1, "reason": "will"}).encode()
    parts.intake.on_message(topic("noise-1", TopicKind.STATUS), status, 1, 1)
    assert parts.health.snapshot("noise-1") == HealthSnapshot(
        last_seq=-1,
        gaps=0,
        duplicates=0,
        online=False,
        last_seen_ms=0,
    )
    parts.intake.on_message(topic("noise-1", TopicKind.STATUS), b"not json", 1, 2)
    parts.intake.seal()
    assert json.loads(parts.broker.published[0][1])["reason"] == "malformed-json"
    assert parts.sealed[0].mids == [1, 2]


async def test_topics_outside_the_contract_are_dead_lettered() -> None:
    parts = build()
    parts.intake.on_message("city/v1/dev/aq-1/whatever", b"x", 1, 1)
    parts.intake.seal()
    assert json.loads(parts.broker.published[0][1])["reason"] == "bad-topic"
    assert parts.metrics.messages_received.labels("other")._value.get() == 1


async def test_a_storm_of_bad_input_still_seals_batches_by_size() -> None:
    parts = build(batch_size=3)
    for mid in range(1, 8):
        parts.intake.on_message(topic("aq-1"), b"{", 0, mid)  # QoS 0: no ids to count, only dead letters
    assert [batch.dead_letters for batch in parts.sealed] == [3, 3]
    assert all(len(batch.lines) == 3 and batch.ts_ms == [] for batch in parts.sealed)


async def test_a_pack_with_many_bad_records_makes_one_dead_letter() -> None:
    parts = build()
    now = int(time.time())
    pack = [{"bn": "aq-1:", "bt": now, "n": "seq", "v": 0}] + [
        {"n": "no2", "v": 5000.0 + i, "t": i} for i in range(1, 200)
    ]
    parts.intake.on_message(topic("aq-1", TopicKind.SENML), json.dumps(pack).encode(), 1, 1)
    parts.intake.seal()
    (batch,) = parts.sealed
    assert batch.dead_letters == 1
    (letter,) = [json.loads(payload) for _topic, payload in parts.broker.published]
    assert letter["rejections"] >= 199
    assert len(letter["detail"]) <= 2_000
