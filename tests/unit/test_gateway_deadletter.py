import base64

import msgspec

from gateway.deadletter import MAX_KEPT_PAYLOAD, DeadLetters, dead_letter
from gateway.metrics import GatewayMetrics
from smartcity.contract.messages import DeadLetter
from smartcity.contract.reading import Rejection, RejectReason
from smartcity.contract.topics import TopicScheme
from tests.gateway_twins import MemoryBroker


def test_text_payloads_are_kept_as_text_and_binary_as_base64() -> None:
    text = dead_letter(reason="r", detail="d", topic="t", payload=b'{"a":1}', received_ms=5, device_id="aq-1")
    assert (text.payload, text.payload_encoding) == ('{"a":1}', "utf-8")
    raw = b"\xff\xfe\x00garbage"
    binary = dead_letter(reason="r", detail="d", topic="t", payload=raw, received_ms=5, device_id=None)
    assert binary.payload_encoding == "base64"
    assert base64.b64decode(binary.payload) == raw


def test_huge_payloads_are_cut_and_the_detail_says_so() -> None:
    letter = dead_letter(
        reason="oversized",
        detail="too big",
        topic="t",
        payload=b"x" * (MAX_KEPT_PAYLOAD + 10),
        received_ms=0,
        device_id=None,
    )
    assert len(letter.payload) == MAX_KEPT_PAYLOAD
    assert "cut" in letter.detail


async def test_published_on_the_reason_topic_and_counted() -> None:
    broker, metrics = MemoryBroker(), GatewayMetrics()
    letters = DeadLetters(TopicScheme("city"), broker, metrics)
    done = letters.send(
        reason="malformed-json",
        detail="x",
        topic="city/v1/dev/aq-1/reading",
        payload=b"{",
        received_ms=1,
        device_id="aq-1",
    )
    await done
    ((topic, payload),) = broker.published
    assert topic == "city/v1/sys/dead-letter/malformed-json"
    letter = msgspec.json.decode(payload, type=DeadLetter)
    assert (letter.reason, letter.topic, letter.device_id, letter.payload) == (
        "malformed-json",
        "city/v1/dev/aq-1/reading",
        "aq-1",
        "{",
    )
    assert metrics.rejected.labels("malformed-json")._value.get() == 1


async def test_a_rejection_becomes_the_dead_letter_of_its_reason_detail_and_device() -> None:
    broker, metrics = MemoryBroker(), GatewayMetrics()
    letters = DeadLetters(TopicScheme("city"), broker, metrics)
    rejection = Rejection(RejectReason.STORE_REJECTED, "field type conflict", "aq-2")
    await letters.reject(rejection, topic="city/v1/dev/aq-2/reading", payload=b"line", received_ms=9)
    ((topic, payload),) = broker.published
    assert topic == f"city/v1/sys/dead-letter/{RejectReason.STORE_REJECTED.value}"
    letter = msgspec.json.decode(payload, type=DeadLetter)
    assert (letter.reason, letter.detail, letter.topic, letter.device_id, letter.payload, letter.received_ms) == (
        RejectReason.STORE_REJECTED.value,
        "field type conflict",
        "city/v1/dev/aq-2/reading",
        "aq-2",
        "line",
        9,
    )
