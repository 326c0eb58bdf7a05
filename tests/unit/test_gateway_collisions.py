"""The collision guard: a different reading at the same device millisecond is refused, a redelivery is not."""

from __future__ import annotations

import json
import time

import pytest

from gateway.collisions import CollisionGuard
from smartcity.contract.reading import Reading
from tests.support.contract import AIR, LIGHT, NOW_MS, topic
from tests.support.gateway_harness import build, reading

FIRST = Reading(AIR, 7, NOW_MS, {"no2": 23.4, "battery": 80.0})


def test_a_redelivery_is_not_a_collision() -> None:
    guard = CollisionGuard()
    assert guard.check(FIRST) is None
    assert guard.check(Reading(AIR, 7, NOW_MS, {"no2": 23.4, "battery": 80.0})) is None
    assert guard.collisions == 0


@pytest.mark.parametrize(
    ("later", "detail"),
    [
        (Reading(AIR, 7, NOW_MS, {"no2": 24.0}), "no2 24.0 would overwrite 23.4"),
        (Reading(AIR, 8, NOW_MS, {"pm25": 5.0}), "seq 8 would overwrite seq 7 in air_quality"),
        (Reading(AIR, None, NOW_MS, {"battery": 81.0}), "battery 81.0 would overwrite 80.0"),
    ],
)
def test_a_different_reading_at_the_same_millisecond_is_refused(later: Reading, detail: str) -> None:
    guard = CollisionGuard()
    guard.check(FIRST)
    found = guard.check(later)
    assert found == f"{detail} of a different reading at the same millisecond ({NOW_MS})"
    assert guard.collisions == 1
    assert guard.check(FIRST) is None  # the refused one was not remembered: the first still stands


def test_readings_that_write_other_fields_merge_and_are_then_checked_as_one_point() -> None:
    guard = CollisionGuard()
    assert guard.check(Reading(AIR, None, NOW_MS, {"no2": 1.0})) is None
    assert guard.check(Reading(AIR, None, NOW_MS, {"pm25": 2.0})) is None  # InfluxDB merges the fields
    assert guard.check(Reading(AIR, 3, NOW_MS, {"rssi": -70.0})) is None  # seq only in device_vitals, new there
    assert guard.check(Reading(AIR, 4, NOW_MS, {"battery": 50.0})) == (
        f"seq 4 would overwrite seq 3 in device_vitals of a different reading at the same millisecond ({NOW_MS})"
    )
    assert guard.check(Reading(AIR, None, NOW_MS, {"pm25": 2.5})) is not None


def test_other_devices_and_other_milliseconds_never_collide() -> None:
    guard = CollisionGuard()
    guard.check(FIRST)
    assert guard.check(Reading(AIR, 8, NOW_MS + 1, {"no2": 1.0})) is None
    assert guard.check(Reading(LIGHT, 8, NOW_MS, {"dim_level": 5})) is None
    assert guard.check(Reading(AIR, 7, NOW_MS, {"no2": 23.4})) is None
    assert guard.collisions == 0


def test_a_value_of_another_type_is_a_collision() -> None:
    guard = CollisionGuard()
    guard.check(Reading(LIGHT, 1, NOW_MS, {"dim_level": 1}))
    assert guard.check(Reading(LIGHT, 1, NOW_MS, {"dim_level": True})) is not None


def test_memory_is_bounded_and_keeps_the_newest() -> None:
    guard = CollisionGuard(max_entries=100)
    for offset in range(1_000):
        guard.check(Reading(AIR, offset, NOW_MS + offset, {"no2": 1.0}))
    assert len(guard) <= 100
    assert guard.check(Reading(AIR, 0, NOW_MS + 999, {"no2": 1.0})) is not None  # recent: still compared
    assert guard.check(Reading(AIR, 1, NOW_MS, {"no2": 2.0})) is None  # long gone: not compared any more
    with pytest.raises(ValueError, match="at least 2"):
        CollisionGuard(max_entries=1)


async def test_the_intake_dead_letters_the_later_of_two_readings_at_one_millisecond() -> None:
    parts = build()
    ts = int(time.time() * 1000)
    parts.intake.on_message(topic("aq-1"), reading("aq-1", 1, ts, no2=20.0), 1, 1)
    parts.intake.on_message(topic("aq-1"), reading("aq-1", 2, ts, no2=25.0), 1, 2)
    parts.intake.on_message(topic("aq-1"), reading("aq-1", 1, ts, no2=20.0), 1, 3)  # a redelivery: no collision
    parts.intake.seal()
    (batch,) = parts.sealed
    assert batch.mids == [1, 2, 3]
    (letter,) = [json.loads(payload) for _topic, payload in parts.broker.published]
    assert letter["reason"] == "timestamp-collision"
    assert "no2 25.0 would overwrite 20.0" in letter["detail"]
    assert [line.split(" ")[1] for line in batch.lines if line.startswith("air_quality,")] == ["no2=20.0,seq=1i"] * 2
