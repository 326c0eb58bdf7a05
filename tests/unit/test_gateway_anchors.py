"""First-receipt anchors: a redelivery resolves against its first receipt, durably and in order; bounded."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from gateway.anchors import FILE_NAME, AnchorStore, message_key, parse_anchored
from gateway.batching import Batch
from gateway.intake import Intake
from smartcity.contract.parse import ParseLimits
from smartcity.contract.reading import ParseOutcome, Reading
from smartcity.contract.topics import TopicKind
from tests.support.contract import AIR, DIRECTORY, NOW_MS, SCHEME, topic
from tests.support.gateway_harness import build

DAY_MS = 86_400_000
TOPIC = topic(AIR, TopicKind.SENML)
RELATIVE = json.dumps([{"n": "no2", "v": 20.5}, {"n": "no2", "t": -60, "v": 20.0}]).encode()
ABSOLUTE = json.dumps([{"bt": NOW_MS / 1000, "n": "no2", "v": 20.5}]).encode()


def store(directory: Path, **options: int) -> AnchorStore:
    return AnchorStore(directory, max_age_ms=31 * DAY_MS, clock=lambda: NOW_MS / 1000, **options)


def parse(anchors: AnchorStore, payload: bytes, now_ms: int, *, redelivered: bool = False) -> ParseOutcome:
    return parse_anchored(
        anchors,
        TOPIC,
        payload,
        redelivered=redelivered,
        now_ms=now_ms,
        scheme=SCHEME,
        directory=DIRECTORY,
        limits=ParseLimits(),
    )


async def test_a_redelivery_after_a_restart_lands_on_the_first_receipts_points(tmp_path: Path) -> None:
    async with store(tmp_path) as anchors:
        first = parse(anchors, RELATIVE, NOW_MS)
        assert [r.ts_ms for r in first.readings] == [NOW_MS, NOW_MS - 60_000]
        assert anchors.pending == 1
        assert await anchors.persist_pending()
        assert anchors.pending == 0
    async with store(tmp_path) as restarted:  # a crash after the write, before the ack: the broker redelivers
        again = parse(restarted, RELATIVE, NOW_MS + 90_000, redelivered=True)
        assert again.readings == first.readings
        assert restarted.pending == 0  # nothing new to record


async def test_a_first_delivery_of_the_same_bytes_is_a_new_reading(tmp_path: Path) -> None:
    """An unchanged value sent again (no time in it) is new data, not a redelivery: only DUP says redelivery."""
    async with store(tmp_path) as anchors:
        parse(anchors, RELATIVE, NOW_MS)
        later = parse(anchors, RELATIVE, NOW_MS + 60_000)
        assert later.readings[0].ts_ms == NOW_MS + 60_000
        redelivered = parse(anchors, RELATIVE, NOW_MS + 90_000, redelivered=True)
        assert redelivered.readings[0].ts_ms == NOW_MS + 60_000  # the latest receipt of those bytes


async def test_absolute_times_need_no_anchor(tmp_path: Path) -> None:
    async with store(tmp_path) as anchors:
        assert parse(anchors, ABSOLUTE, NOW_MS).readings == [Reading(AIR, None, NOW_MS, {"no2": 20.5})]
        assert parse(anchors, ABSOLUTE, NOW_MS, redelivered=True).readings[0].ts_ms == NOW_MS
        assert anchors.pending == 0
        assert len(anchors) == 0


async def test_an_unknown_redelivery_is_anchored_now(tmp_path: Path) -> None:
    async with store(tmp_path) as anchors:  # e.g. sent before the crash but never read by us
        assert parse(anchors, RELATIVE, NOW_MS, redelivered=True).readings[0].ts_ms == NOW_MS
        assert anchors.pending == 1


async def test_two_now_packs_in_one_millisecond_get_distinct_anchors(tmp_path: Path) -> None:
    other = json.dumps([{"n": "no2", "v": 30.0}]).encode()
    async with store(tmp_path) as anchors:
        first = parse(anchors, RELATIVE, NOW_MS)
        second = parse(anchors, other, NOW_MS)
        assert (first.readings[0].ts_ms, second.readings[0].ts_ms) == (NOW_MS, NOW_MS + 1)
        assert parse(anchors, other, NOW_MS + 5_000).readings[0].ts_ms == NOW_MS + 5_000


async def test_anchors_of_one_call_are_durable_together_and_concurrent_callers_wait(tmp_path: Path) -> None:
    async with store(tmp_path) as anchors:
        for index in range(100):
            anchors.first_receipt(TOPIC, b"[%d]" % index, NOW_MS + index)
        assert all(await asyncio.gather(anchors.persist_pending(), anchors.persist_pending()))
        rows = sqlite3.connect(tmp_path / FILE_NAME).execute("SELECT COUNT(*) FROM anchors").fetchone()
        assert rows == (100,)


async def test_a_failed_commit_keeps_the_anchors_pending(tmp_path: Path) -> None:
    async with store(tmp_path) as anchors:
        anchors.first_receipt(TOPIC, RELATIVE, NOW_MS)
        original = anchors._write

        def full_disk(rows: list[tuple[bytes, int]], floor_ms: int) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        anchors._write = full_disk  # type: ignore[method-assign]
        assert not await anchors.persist_pending()
        assert anchors.pending == 1
        anchors._write = original  # type: ignore[method-assign]
        assert await anchors.persist_pending()
        assert anchors.pending == 0


async def test_memory_and_file_are_bounded_by_count_and_age(tmp_path: Path) -> None:
    async with store(tmp_path, max_entries=8) as anchors:
        for index in range(40):
            anchors.first_receipt(TOPIC, b"[%d]" % index, NOW_MS - 40_000 + index * 1000)
            await anchors.persist_pending()
        assert len(anchors) <= 8
        assert anchors.known(TOPIC, b"[39]") == NOW_MS - 1_000  # the newest are kept
        assert anchors.known(TOPIC, b"[0]") is None
        on_disk = sqlite3.connect(tmp_path / FILE_NAME).execute("SELECT COUNT(*) FROM anchors").fetchone()[0]
        assert on_disk <= 8


async def test_anchors_older_than_the_window_are_forgotten(tmp_path: Path) -> None:
    async with store(tmp_path) as anchors:
        for age_s in (0, 5, 20, 40):
            anchors.first_receipt(TOPIC, b"[%d]" % age_s, NOW_MS - age_s * 1000)
        await anchors.persist_pending()
    reopened = AnchorStore(tmp_path, max_age_ms=10_000, clock=lambda: NOW_MS / 1000)
    assert [reopened.known(TOPIC, b"[%d]" % age_s) for age_s in (0, 5, 20)] == [NOW_MS, NOW_MS - 5_000, None]
    reopened.first_receipt(TOPIC, b"new", NOW_MS)
    await reopened.persist_pending()  # the commit deletes what the window no longer holds
    reopened.close()
    rows = sqlite3.connect(tmp_path / FILE_NAME).execute("SELECT COUNT(*) FROM anchors").fetchone()
    assert rows == (3,)


def test_keys_separate_topic_and_payload() -> None:
    assert message_key("a/b", b"c") != message_key("a/", b"bc")
    assert len(message_key(TOPIC, RELATIVE)) == 16
    with pytest.raises(ValueError, match="at least 2"):
        AnchorStore(Path("/nonexistent"), max_age_ms=1, max_entries=1)


async def test_the_intake_maps_a_redelivered_pack_to_its_first_receipt(tmp_path: Path) -> None:
    parts = build()
    sealed: list[Batch] = []
    async with store(tmp_path) as anchors:
        intake = Intake(
            scheme=SCHEME,
            directory=parts.directory,
            health=parts.health,
            dead_letters=parts.dead_letters,
            ledger=parts.ledger,
            metrics=parts.metrics,
            limits=ParseLimits(),
            batch_size=100,
            batch_ms=20,
            on_sealed=sealed.append,
            anchors=anchors,
        )
        pack = json.dumps([{"n": "no2", "v": 20.5}]).encode()
        senml_topic = topic("aq-1", TopicKind.SENML)
        intake.on_message(senml_topic, pack, 1, 1)
        await asyncio.sleep(0.01)
        intake.on_message(senml_topic, pack, 1, 2, True)  # DUP: the broker sends it again
        intake.on_message(senml_topic, pack, 1, 3)  # the same bytes sent again: a new reading
        intake.seal()
        times = [int(line.rsplit(" ", 1)[1]) for line in sealed[0].lines if line.startswith("air_quality,")]
        assert times[0] == times[1] < times[2]
        assert anchors.pending == 2
        assert await anchors.persist_pending()
