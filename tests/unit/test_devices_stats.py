"""The simulator's counters: refusals and broker disconnects by reason, typed snapshots that travel between worker
processes and merge there."""

from __future__ import annotations

import pickle

import pytest

from devices import mqtt5
from devices.faults import Fault
from devices.snapshot import LedgerEntry, merge_snapshots, summarize
from devices.stats import RunStats


def test_refusals_and_broker_disconnects_are_counted_by_reason() -> None:
    stats = RunStats()
    stats.publish_refused("dev-1", mqtt5.PACKET_TOO_LARGE)
    stats.publish_refused("dev-2", 0x97)
    stats.publish_refused("dev-2", 0x97)
    stats.connection_lost(mqtt5.PACKET_TOO_LARGE)
    stats.connection_lost(None)
    counters = stats.snapshot().counters
    assert (counters.publish_refused, counters.connection_lost, counters.errors) == (3, 2, 3)
    assert counters.publish_refused_by_reason == {"packet-too-large": 1, "quota-exceeded": 2}
    assert counters.broker_disconnect_by_reason == {"packet-too-large": 1}
    assert stats.errors[0] == "dev-1: broker refused a publish (reason code 0x95): packet-too-large"


def test_reason_counters_survive_the_merge_of_worker_snapshots() -> None:
    first, second = RunStats(), RunStats()
    first.publish_refused("dev-1", mqtt5.PACKET_TOO_LARGE)
    second.publish_refused("dev-2", mqtt5.PACKET_TOO_LARGE)
    second.connection_lost(0x8E)
    merged = merge_snapshots([first.snapshot(), second.snapshot()]).counters
    assert merged.publish_refused_by_reason == {"packet-too-large": 2}
    assert merged.broker_disconnect_by_reason == {"session-taken-over": 1}
    assert (merged.publish_refused, merged.connection_lost) == (2, 1)


def test_a_snapshot_travels_between_processes_and_merges_counters_gauges_faults_and_ledgers() -> None:
    first, second = RunStats(), RunStats()
    for stats, device_id in ((first, "bb-0"), (second, "bb-1")):
        stats.reading_made(device_id, 0)
        stats.reading_made(device_id, 1)
        stats.count("messages_sent", 2)
        stats.fault(Fault.DUPLICATE)
        stats.gauges["connected"] = 1
        stats.gauges["cpu_s"] = 0.25
    first.spiked("bb-0", 1)
    snapshots = [pickle.loads(pickle.dumps(stats.snapshot(with_ledger=True))) for stats in (first, second)]
    assert snapshots[0] == first.snapshot(with_ledger=True)
    merged = merge_snapshots(snapshots)
    assert (merged.counters.readings, merged.counters.messages_sent) == (4, 4)
    assert (merged.gauges.connected, merged.gauges.cpu_s) == (2, 0.5)
    assert merged.faults == {Fault.DUPLICATE: 2}
    assert merged.devices == {"bb-0": LedgerEntry(0, 1, 2, [1]), "bb-1": LedgerEntry(0, 1, 2, [])}
    assert first.snapshot().devices == {}  # live snapshots leave the ledger out


def test_the_summary_adds_the_run_figures() -> None:
    stats = RunStats()
    stats.count("messages_sent", 1000)
    summary = summarize(stats.snapshot(), devices_run=3, elapsed_s=4.00049)
    assert (summary.devices_run, summary.elapsed_s, summary.msg_per_s) == (3, 4.0, 250.0)
    assert summarize(stats.snapshot(), devices_run=3, elapsed_s=0.0).msg_per_s == 0.0


@pytest.mark.parametrize(("where", "name"), [("counter", "conects"), ("gauge", "backlog")])
def test_a_name_the_snapshot_does_not_know_is_refused_by_name(where: str, name: str) -> None:
    stats = RunStats()
    if where == "counter":
        stats.count(name)
    else:
        stats.gauges[name] = 1
    with pytest.raises(ValueError, match=f"unknown field `{name}`"):
        stats.snapshot()


def test_refused_and_failed_connection_attempts_are_counted_with_their_reason() -> None:
    stats = RunStats()
    stats.connect_refused("broker refused client 'bb-0': not authorized (reason code 0x87)")
    stats.connect_failed("netserver", ConnectionRefusedError(111, "Connection refused"))
    counters = stats.snapshot().counters
    assert (counters.connect_refused, counters.connect_failed, counters.errors) == (1, 1, 2)
    assert list(stats.errors) == [
        "broker refused client 'bb-0': not authorized (reason code 0x87)",
        "netserver: connect failed: [Errno 111] Connection refused",
    ]
