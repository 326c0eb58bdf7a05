import asyncio
import base64
import logging

import msgspec
import pytest

from gateway.deadletter import DeadLetters, dead_letter
from gateway.metrics import GatewayMetrics
from smartcity.city.directory import DeviceDirectory
from smartcity.contract.messages import DeadLetter
from smartcity.contract.reading import Rejection, RejectReason
from smartcity.contract.topics import TopicScheme
from smartcity.influx.schema import DETAIL_LIMIT
from tests.support.cities import small_city
from tests.support.gateway_twins import MemoryBroker

TOPIC = "city/v1/dev/aq-1/reading"


def _letters(broker: MemoryBroker, metrics: GatewayMetrics, excerpt_bytes: int = 4096) -> DeadLetters:
    directory = DeviceDirectory.from_city(small_city())
    return DeadLetters(TopicScheme("city"), broker, metrics, directory, gateway="gw-1", excerpt_bytes=excerpt_bytes)


def _one(reason: RejectReason = RejectReason.MALFORMED_JSON, detail: str = "d") -> list[Rejection]:
    return [Rejection(reason, detail, "aq-1")]


def test_text_payloads_are_kept_as_text_and_binary_as_base64() -> None:
    text = dead_letter(_one(), topic="t", payload=b'{"a":1}', received_ms=5, excerpt_bytes=100)
    assert (text.payload, text.payload_encoding, text.payload_bytes) == ('{"a":1}', "utf-8", 7)
    raw = b"\xff\xfe\x00garbage"
    binary = dead_letter(_one(), topic="t", payload=raw, received_ms=5, excerpt_bytes=100)
    assert binary.payload_encoding == "base64"
    assert base64.b64decode(binary.payload) == raw


def test_payloads_are_cut_to_the_excerpt_and_the_detail_says_so() -> None:
    letter = dead_letter(_one(), topic="t", payload=b"x" * 5000, received_ms=0, excerpt_bytes=100)
    assert letter.payload == "x" * 100
    assert letter.payload_bytes == 5000
    assert "cut to its first 100 of 5000 bytes" in letter.detail


def test_a_cut_inside_a_multibyte_character_keeps_the_text() -> None:
    letter = dead_letter(_one(), topic="t", payload="é".encode() * 60, received_ms=0, excerpt_bytes=101)
    assert (letter.payload, letter.payload_encoding) == ("é" * 50, "utf-8")


def test_one_dead_letter_lists_every_rejected_record_within_a_bounded_detail() -> None:
    rejections = [
        Rejection(RejectReason.OUT_OF_RANGE, f"record {i} (t=1) no2: 5000.0 above maximum 2000", "aq-1")
        for i in range(1024)
    ]
    letter = dead_letter(rejections, topic="t", payload=b"[]", received_ms=0, excerpt_bytes=100)
    assert letter.rejections == 1024
    assert letter.reason == "out-of-range"
    assert letter.detail.startswith("out-of-range: record 0 (t=1) no2")
    assert letter.detail.endswith("more rejected")
    assert len(letter.detail) <= DETAIL_LIMIT


async def test_a_rejection_is_counted_published_live_and_returned_as_a_stored_point() -> None:
    broker, metrics = MemoryBroker(), GatewayMetrics()
    letters = _letters(broker, metrics)
    rejections = [Rejection(RejectReason.OUT_OF_RANGE, "m.no2: 2500.0 above maximum 2000", "aq-1")] * 3
    line = letters.reject(rejections, topic=TOPIC, payload=b'{"dev":"aq-1"}', received_ms=9)
    assert line.startswith("dead_letters,device=aq-1,gateway=gw-1,reason=out-of-range ")
    assert line.endswith(" 9")
    assert "rejections=3i" in line
    ((topic, payload),) = broker.published
    assert topic == "city/v1/sys/dead-letter/out-of-range"
    letter = msgspec.json.decode(payload, type=DeadLetter)
    assert (letter.reason, letter.topic, letter.device_id, letter.payload, letter.rejections) == (
        "out-of-range",
        TOPIC,
        "aq-1",
        '{"dev":"aq-1"}',
        3,
    )
    assert metrics.rejected.labels("out-of-range")._value.get() == 3


async def test_devices_outside_the_registry_never_become_a_tag() -> None:
    letters = _letters(MemoryBroker(), GatewayMetrics())
    problem = [Rejection(RejectReason.UNKNOWN_DEVICE, "not in the registry", "x" * 200)]
    line = letters.reject(problem, topic="city/v1/dev/" + "x" * 200 + "/reading", payload=b"{}", received_ms=1)
    assert line.startswith("dead_letters,gateway=gw-1,reason=unknown-device ")


async def test_two_rejections_in_one_millisecond_are_two_points() -> None:
    letters = _letters(MemoryBroker(), GatewayMetrics())
    first = letters.reject(_one(), topic=TOPIC, payload=b"{", received_ms=100)
    second = letters.reject(_one(), topic=TOPIC, payload=b"{", received_ms=100)
    assert (first.rsplit(" ", 1)[1], second.rsplit(" ", 1)[1]) == ("100", "101")


async def test_line_breaks_in_topic_detail_and_payload_stay_on_one_line() -> None:
    letters = _letters(MemoryBroker(), GatewayMetrics())
    line = letters.reject(_one(detail="bad\nthing"), topic="a\nb", payload=b"{\n}", received_ms=1)
    assert "\n" not in line


async def test_a_failed_live_copy_is_counted_and_the_point_still_returned() -> None:
    broker, metrics = MemoryBroker(), GatewayMetrics()
    broker.fail_publish = True
    line = _letters(broker, metrics).reject(_one(), topic=TOPIC, payload=b"{", received_ms=1)
    assert line.startswith("dead_letters,")
    await asyncio.sleep(0)  # the done-callback runs
    assert metrics.dead_letters_failed._value.get() == 1


async def test_warnings_are_rate_limited_per_reason_with_a_summary(caplog: pytest.LogCaptureFixture) -> None:
    letters = _letters(MemoryBroker(), GatewayMetrics())
    with caplog.at_level(logging.WARNING, logger="gateway.deadletter"):
        for index in range(500):
            letters.reject(_one(), topic=TOPIC, payload=b"{", received_ms=index)
        letters.flush_log()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 6
    assert lines[-1] == "rejected 495 more messages in the last 10 s: malformed-json 495"
