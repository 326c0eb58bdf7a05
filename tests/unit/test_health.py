import msgspec
import pytest

from gateway.sequence import SequenceTracker
from smartcity.health import (
    HealthRecordError,
    ReplicaHealth,
    format_ranges,
    merge_replicas,
    parse_ranges,
    union_count,
)


def _record(replica: str, seqs: list[int], *, ts_base: int = 1_000, **extra: object) -> ReplicaHealth:
    """The point a replica that received ``seqs`` (device time ts_base + seq) would have written."""
    tracker = SequenceTracker()
    for seq in seqs:
        tracker.observe(seq, ts_base + seq)
    fields = {**tracker.fields(), "last_seq": tracker.last_seq, "duplicates": tracker.duplicates}
    return msgspec.convert({**fields, "device": "aq-1", "replica": replica, **extra}, ReplicaHealth)


def test_ranges_round_trip_and_bad_ones_are_named() -> None:
    assert format_ranges([0, 41, 45, 45, 50, 199]) == "0-41,45,50-199"
    assert parse_ranges("0-41,45,50-199") == [0, 41, 45, 45, 50, 199]
    assert parse_ranges("") == []
    with pytest.raises(HealthRecordError, match="'x' is not a number"):
        parse_ranges("0-4,x")
    with pytest.raises(HealthRecordError, match="ends before it starts"):
        parse_ranges("9-3")
    with pytest.raises(HealthRecordError, match="overlaps or touches"):
        parse_ranges("0-4,5-9")


def test_union_count_counts_overlaps_once() -> None:
    assert union_count([[0, 9], [5, 14, 20, 20]]) == 16
    assert union_count([]) == 0


def test_two_interleaved_replicas_of_a_gap_free_device_merge_to_zero_gaps() -> None:
    a = _record("gw-a", list(range(0, 200, 2)))
    b = _record("gw-b", list(range(1, 200, 2)))
    assert a.written_off > 0  # each replica alone sees 99 holes: more than its range cap
    merged = merge_replicas("aq-1", [a, b])
    assert (merged.gaps, merged.duplicates, merged.readings) == (0, 0, 200)
    assert (merged.first_seq, merged.last_seq, merged.replicas) == (0, 199, ("gw-a", "gw-b"))


def test_a_real_gap_shows_in_the_merge_of_interleaved_replicas() -> None:
    lost = set(range(50, 55))
    a = _record("gw-a", [seq for seq in range(0, 200, 2) if seq not in lost])
    b = _record("gw-b", [seq for seq in range(1, 200, 2) if seq not in lost])
    assert merge_replicas("aq-1", [a, b]).gaps == 5


def test_exact_ranges_merge_as_a_union_and_count_cross_replica_copies_as_duplicates() -> None:
    a = _record("gw-a", list(range(0, 60)))
    b = _record("gw-b", [*range(50, 100), *range(103, 110)])  # 50..59 reached both replicas
    merged = merge_replicas("aq-1", [a, b])
    assert (merged.gaps, merged.duplicates, merged.readings) == (3, 10, 107)


def test_counts_that_exceed_the_span_are_duplicates_not_negative_gaps() -> None:
    a = _record("gw-a", list(range(0, 100, 2)))
    b = _record("gw-b", [*range(1, 100, 2), 10, 20])  # two copies of gw-a's readings reached gw-b
    merged = merge_replicas("aq-1", [a, b])
    assert (merged.gaps, merged.duplicates) == (0, 2)


def test_a_replica_still_in_the_previous_run_is_merged_as_a_closed_run() -> None:
    new_run = SequenceTracker()
    for seq in [*range(0, 100, 2)]:
        new_run.observe(seq, 1_000 + seq)
    new_run.observe(0, 10_000)  # the device restarted
    new_run.observe(1, 10_001)
    a = ReplicaHealth(
        device="aq-1",
        replica="gw-a",
        **{**new_run.fields(), "last_seq": 1},  # type: ignore[arg-type]
    )
    b = _record("gw-b", list(range(1, 100, 2)))  # has not seen the new run yet
    merged = merge_replicas("aq-1", [a, b])
    assert (merged.first_seq, merged.last_seq, merged.restarts) == (0, 1, 1)
    assert merged.gaps == 0
    assert merged.readings == 102


def test_status_last_seen_and_clock_come_from_the_freshest_replica() -> None:
    a = _record("gw-a", [1], online=True, status_ms=500, last_seen_ms=900, clock_offset_ms=-400, clock_at_ms=900)
    b = _record("gw-b", [2], online=False, status_ms=800, last_seen_ms=700, clock_offset_ms=-90, clock_at_ms=700)
    stale = _record("gw-c", [0], clock_offset_ms=5_000, clock_at_ms=900 - 3_600_000)
    merged = merge_replicas("aq-1", [a, b, stale])
    assert (merged.online, merged.last_seen_ms, merged.clock_offset_ms) == (False, 900, -90)


def test_legacy_points_without_sequence_fields_do_not_count_as_a_run() -> None:
    legacy = ReplicaHealth(device="aq-1", gaps=136, last_seq=208, last_seen_ms=5)
    merged = merge_replicas("aq-1", [legacy, _record("gw-a", list(range(10)))])
    assert (merged.gaps, merged.readings, merged.last_seen_ms) == (0, 10, 5)
