"""The simulator's counters: refusals and broker disconnects by reason, merged across workers."""

from __future__ import annotations

from devices import mqtt5
from devices.stats import RunStats, merge_snapshots


def test_refusals_and_broker_disconnects_are_counted_by_reason() -> None:
    stats = RunStats()
    stats.publish_refused("dev-1", mqtt5.PACKET_TOO_LARGE)
    stats.publish_refused("dev-2", 0x97)
    stats.publish_refused("dev-2", 0x97)
    stats.connection_lost(mqtt5.PACKET_TOO_LARGE)
    stats.connection_lost(None)
    assert {name: count for name, count in stats.counters.items() if name != "errors"} == {
        "publish_refused": 3,
        "publish_refused.packet-too-large": 1,
        "publish_refused.quota-exceeded": 2,
        "connection_lost": 2,
        "broker_disconnect.packet-too-large": 1,
    }
    assert stats.errors[0] == "dev-1: broker refused a publish (reason code 0x95): packet-too-large"


def test_reason_counters_survive_the_merge_of_worker_snapshots() -> None:
    first, second = RunStats(), RunStats()
    first.publish_refused("dev-1", mqtt5.PACKET_TOO_LARGE)
    second.publish_refused("dev-2", mqtt5.PACKET_TOO_LARGE)
    second.connection_lost(0x8E)
    merged = merge_snapshots([first.snapshot(), second.snapshot()])["counters"]
    assert merged["publish_refused.packet-too-large"] == 2
    assert merged["broker_disconnect.session-taken-over"] == 1
