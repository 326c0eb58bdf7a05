"""The publish bookkeeping shared by devices and the network server: bounded buffers, PUBACKs, fault copies."""

from __future__ import annotations

from collections import deque

from devices.faults import Fault, FaultPlan
from devices.outgoing import Outgoing, enqueue, record_puback, send_fault_copies
from devices.stats import RunStats


def test_enqueue_drops_the_oldest_past_the_limit_and_counts_it() -> None:
    stats, buffer = RunStats(), deque[int]()
    for item in range(5):
        enqueue(buffer, item, 3, stats, "dropped_device_buffer_full")
    assert list(buffer) == [2, 3, 4]
    assert stats.snapshot().counters.dropped_device_buffer_full == 2


def test_record_puback_counts_acks_and_refusals_of_publishes_in_flight_only() -> None:
    stats = RunStats()
    inflight: dict[int, Outgoing] = {1: (b"t", b"a", False), 2: (b"t", b"b", False)}
    assert record_puback(inflight, 1, 0x00, stats, "dev-1")
    assert record_puback(inflight, 2, 0x87, stats, "dev-1")
    assert not record_puback(inflight, 2, 0x00, stats, "dev-1")  # already settled
    assert inflight == {}
    assert (stats.counters["acked"], stats.counters["publish_refused"]) == (2, 1)
    assert any("dev-1: broker refused a publish (reason code 0x87)" in error for error in stats.errors)


def test_fault_copies_repeat_the_payload_and_add_a_malformed_one_when_the_plan_hits() -> None:
    faults = FaultPlan.parse(["duplicate=1", "malformed=1"]).for_device(1, "bb-0", 60)
    stats, sent = RunStats(), list[bytes]()
    send_fault_copies(faults, stats, 7, sent.append, b"reading", b"bad")
    assert sent == [b"reading", b"bad"]
    assert (stats.faults[Fault.DUPLICATE], stats.faults[Fault.MALFORMED]) == (1, 1)

    clean = FaultPlan.parse([]).for_device(1, "bb-0", 60)
    send_fault_copies(clean, stats, 7, sent.append, b"reading", b"bad")
    assert sent == [b"reading", b"bad"]
