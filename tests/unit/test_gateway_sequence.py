import random
from collections import deque

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.narrowband import build_pack
from gateway.sequence import SequenceTracker
from smartcity.city.model import RadioProfile
from smartcity.contract.reading import Reading
from smartcity.health import RANGE_CAP, ReplicaHealth

STEP_MS = 60_000


def _narrowband_backlog(tracker: SequenceTracker, *, before: int, backlog: int, per_pack: int) -> int:
    """``before`` readings live, then ``backlog`` buffered out of coverage, then sent as narrowband packs do:
    each uplink is the new reading plus the newest ``per_pack`` of the backlog (devices/narrowband.py)."""
    for seq in range(before):
        tracker.observe(seq, seq * STEP_MS)
    buffered = list(range(before, before + backlog))
    seq = before + backlog
    while buffered:
        tracker.observe(seq, seq * STEP_MS)
        for _ in range(min(per_pack, len(buffered))):
            old = buffered.pop()
            tracker.observe(old, old * STEP_MS)
        seq += 1
    return seq


def test_a_199_reading_narrowband_backlog_out_of_order_leaves_no_gaps() -> None:
    tracker = SequenceTracker()
    end = _narrowband_backlog(tracker, before=10, backlog=199, per_pack=6)
    assert tracker.gaps == 0
    assert tracker.duplicates == 0
    assert tracker.seen == end
    assert tracker.ranges == [(0, end - 1)]


def test_while_a_backlog_is_still_arriving_only_the_missing_part_counts() -> None:
    tracker = SequenceTracker()
    for seq in range(10):
        tracker.observe(seq, seq)
    assert tracker.observe(300, 300) == (False, 290)  # back in coverage: 10..299 are not here yet
    for seq in range(299, 199, -1):
        tracker.observe(seq, seq)
    assert tracker.gaps == 190
    assert tracker.ranges == [(0, 9), (200, 300)]


def test_a_backlog_of_thousands_is_credited_however_late() -> None:
    tracker = SequenceTracker()
    _narrowband_backlog(tracker, before=1, backlog=2000, per_pack=1)
    assert tracker.gaps == 0


def test_a_real_gap_of_five_counts_five() -> None:
    tracker = SequenceTracker()
    for seq in [*range(10), *range(15, 30)]:
        tracker.observe(seq, seq)
    assert tracker.gaps == 5
    assert tracker.ranges == [(0, 9), (15, 29)]


def test_late_arrivals_report_negative_gap_changes() -> None:
    tracker = SequenceTracker()
    tracker.observe(0, 0)
    assert tracker.observe(4, 4) == (False, 3)
    assert tracker.observe(2, 2) == (False, -1)
    assert tracker.observe(2, 2) == (True, 0)
    assert tracker.gaps == 2


def test_duplicates_anywhere_in_the_run_are_recognised() -> None:
    tracker = SequenceTracker()
    for seq in range(500):
        tracker.observe(seq, seq)
    assert tracker.observe(3, 3) == (True, 0)
    assert tracker.observe(499, 499) == (True, 0)
    assert tracker.duplicates == 2
    assert tracker.seen == 500
    assert tracker.gaps == 0


def test_a_restarted_sequence_closes_the_run_and_keeps_its_gaps() -> None:
    tracker = SequenceTracker()
    for seq in [*range(100), *range(102, 200)]:  # two lost before the reboot
        tracker.observe(seq, 1_000 + seq)
    assert tracker.observe(0, 50_000) == (False, 0)  # seq back to 0, device clock newer: a new run
    assert tracker.observe(1, 50_001) == (False, 0)
    assert tracker.restarts == 1
    assert tracker.ranges == [(0, 1)]
    assert tracker.gaps == 2
    assert tracker.duplicates == 0


def test_a_reused_seq_with_a_newer_clock_is_a_restart_and_the_same_clock_a_duplicate() -> None:
    tracker = SequenceTracker()
    for seq in range(10):
        tracker.observe(seq, 1000 + seq)
    assert tracker.observe(2, 5000) == (False, 0)
    assert tracker.observe(3, 5001) == (False, 0)
    assert tracker.observe(3, 5001) == (True, 0)
    assert tracker.duplicates == 1
    assert tracker.last_seq == 3


def test_a_reading_of_the_previous_run_arriving_after_the_restart_is_a_duplicate() -> None:
    tracker = SequenceTracker()
    for seq in range(50):
        tracker.observe(seq, 1000 + seq)
    tracker.observe(0, 9000)
    assert tracker.observe(30, 1030) == (True, 0)  # redelivered from before the reboot
    assert tracker.ranges == [(0, 0)]


def test_at_the_range_cap_the_smallest_hole_is_written_off_and_still_counted() -> None:
    tracker = SequenceTracker()
    # RANGE_CAP + 1 islands; the hole after island 3 is the smallest (1 number), the others 2.
    seq = 0
    for island in range(RANGE_CAP + 1):
        tracker.observe(seq, seq)
        seq += 2 if island == 3 else 3
    assert len(tracker.ranges) == RANGE_CAP
    assert tracker.written_off == 1
    gaps = tracker.gaps
    assert gaps == tracker.span - tracker.seen
    written_off = 3 * 3 + 1  # the number inside the merged hole
    assert tracker.observe(written_off, written_off) == (True, 0)  # can no longer be told from a duplicate
    assert tracker.gaps == gaps
    assert tracker.observe(1, 1) == (False, -1)  # other holes are still credited


def test_memory_stays_bounded_under_any_pattern() -> None:
    tracker = SequenceTracker()
    rng = random.Random(7)
    for _ in range(5000):
        seq = rng.randrange(100_000)
        tracker.observe(seq, seq)
    assert len(tracker.ranges) <= RANGE_CAP
    assert tracker.gaps == tracker.span - tracker.seen


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(200)))
def test_any_arrival_order_of_a_complete_sequence_is_accounted_exactly(order: list[int]) -> None:
    tracker = SequenceTracker()
    for seq in order:
        tracker.observe(seq, 0)  # one device clock value: never a restart
    # Every number arrives once: seen, unless its hole was written off at the cap before it came (then it is
    # taken for a duplicate and stays counted as a gap). Within the cap that is none of them.
    assert tracker.seen + tracker.written_off == 200
    assert tracker.gaps == tracker.written_off == tracker.duplicates


def test_restore_round_trips_through_the_stored_fields() -> None:
    tracker = SequenceTracker()
    for seq in [*range(10), *range(20, 30)]:
        tracker.observe(seq, 1000 + seq)
    tracker.observe(5, 1005)
    record = _record(tracker)
    restored = SequenceTracker.restore(record)
    assert restored.ranges == tracker.ranges
    assert (restored.gaps, restored.duplicates, restored.seen) == (10, 1, 20)
    assert restored.observe(15, 1015) == (False, -1)
    assert restored.observe(29, 1029) == (True, 0)


def test_restore_of_ranges_that_do_not_match_the_counts_keeps_the_stored_gap_figure() -> None:
    record = ReplicaHealth(device="aq-1", first_seq=0, last_seq=99, seen=90, ranges="0-99")
    restored = SequenceTracker.restore(record)
    assert restored.gaps == 10
    assert restored.written_off == 10


def test_absorb_combines_live_readings_with_the_restored_state() -> None:
    stored = SequenceTracker()
    for seq in range(100):
        stored.observe(seq, seq)
    live = SequenceTracker()
    for seq in (98, 99, 100, 101, 103):  # redelivered 98 and 99, then new ones
        live.observe(seq, seq)
    merged = stored.absorb(live)
    assert (merged.seen, merged.gaps, merged.duplicates) == (103, 1, 2)


def test_absorb_of_a_device_that_restarted_meanwhile_closes_the_stored_run() -> None:
    stored = SequenceTracker()
    for seq in [*range(50), *range(51, 60)]:
        stored.observe(seq, seq)
    live = SequenceTracker()
    live.observe(0, 10_000)
    merged = stored.absorb(live)
    assert (merged.restarts, merged.gaps, merged.last_seq) == (1, 1, 0)


def _record(tracker: SequenceTracker) -> ReplicaHealth:
    fields = {**tracker.fields(), "device": "aq-1", "last_seq": tracker.last_seq, "duplicates": tracker.duplicates}
    return msgspec.convert(fields, ReplicaHealth)


@pytest.mark.parametrize("radio", list(RadioProfile))
def test_backlogs_drained_by_the_narrowband_pack_builder_leave_no_gaps(radio: RadioProfile) -> None:
    """The order the simulator's narrowband devices send a 199-reading backlog in (NarrowbandDevice.wake with two
    uplinks per wake: each pack is one reading plus the newest of the backlog that fit), for every radio."""
    tracker = SequenceTracker()
    backlog: deque[Reading] = deque()
    seq = 0
    while seq < 250 or backlog:  # live readings go on until the backlog is drained
        assert seq < 1000, "the backlog does not drain"
        reading = Reading("aq-1", seq, seq * STEP_MS, {"no2": 20.5, "pm25": 9.0, "battery": 88.0})
        seq += 1
        if 10 <= seq - 1 < 209:  # out of coverage: 199 readings buffered
            backlog.append(reading)
            continue
        for uplink in range(2):
            _, taken = build_pack(reading, backlog, radio.payload_budget)
            _observe(tracker, reading)
            for _ in range(taken):
                _observe(tracker, backlog.pop())
            if not backlog or uplink == 1:
                break
            reading = backlog.pop()
    assert (tracker.gaps, tracker.duplicates, tracker.seen) == (0, 0, seq)
    assert tracker.ranges == [(0, seq - 1)]


def _observe(tracker: SequenceTracker, reading: Reading) -> None:
    assert reading.seq is not None
    tracker.observe(reading.seq, reading.ts_ms)
