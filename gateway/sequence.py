"""Per-device sequence accounting: which sequence numbers arrived, as compact ranges, so that gaps are
``span - seen`` and a late arrival shrinks them however late it comes.

Narrowband devices buffer readings while out of coverage and send them later, newest first, several per pack
(devices/narrowband.py): a backlog of any length arrives as a few contiguous blocks growing downwards, i.e. a few
ranges. A broadband device in order is one range. Memory is a small record per device: at most
:data:`~smartcity.health.RANGE_CAP` ranges (16 bytes each). At the cap the two ranges with the smallest hole
between them are merged (a new hole as small as any is merged at once, otherwise the oldest of the smallest): the
hole's numbers stay counted as gaps (``seen`` does not grow), they are counted in ``written_off``, and one of them
arriving later is taken for a duplicate, since it can no longer be told apart from one. With several replicas in
a ``$share`` group each replica sees an interleaved part of the sequence; its holes are then mostly the other
replicas' share, which is why merging the smallest holes first suits it too (the merge across replicas:
:func:`smartcity.health.merge_replicas`).

A device that restarts its sequence (a sequence number not above the highest one, with a device clock newer than
any reading of the run) starts a new run: the old run's span and seen count are closed, its gaps stay counted.
A reading whose device time is not newer than the previous run's end belongs to that run and is counted as a
duplicate (most often a redelivery; the previous run's ranges are gone).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from operator import sub

from smartcity.health import RANGE_CAP, ReplicaHealth, format_ranges, parse_ranges, range_count


class SequenceTracker:
    """The sequence numbers of one device (see the module docstring). ``observe`` is on the hot path."""

    __slots__ = (
        "_min_hole",
        "_ranges",
        "after_ts_ms",
        "closed_seen",
        "closed_span",
        "duplicates",
        "last_ts_ms",
        "restarts",
        "seen",
        "start_ts_ms",
        "written_off",
    )

    def __init__(self) -> None:
        self._ranges = array("q")
        """Flat ``[start0, end0, start1, end1, ...]``: sorted, disjoint, never adjacent."""
        self._min_hole = -1
        """The smallest hole between two ranges, -1 when not known."""
        self.seen = 0
        self.written_off = 0
        self.duplicates = 0
        self.restarts = 0
        self.start_ts_ms = 0
        self.last_ts_ms = 0
        self.after_ts_ms = 0
        self.closed_span = 0
        self.closed_seen = 0

    # -- figures ---------------------------------------------------------------------------------------------

    @property
    def first_seq(self) -> int:
        return self._ranges[0] if self._ranges else -1

    @property
    def last_seq(self) -> int:
        return self._ranges[-1] if self._ranges else -1

    @property
    def span(self) -> int:
        ranges = self._ranges
        return ranges[-1] - ranges[0] + 1 if ranges else 0

    @property
    def run_gaps(self) -> int:
        return self.span - self.seen

    @property
    def gaps(self) -> int:
        """Sequence numbers never received, over this run and the earlier ones."""
        return self.closed_span - self.closed_seen + self.span - self.seen

    @property
    def ranges(self) -> list[tuple[int, int]]:
        flat = self._ranges
        return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    # -- updates ---------------------------------------------------------------------------------------------

    def observe(self, seq: int, ts_ms: int) -> tuple[bool, int]:
        """Record one reading; return ``(is_duplicate, change_of_gaps)`` (negative when it filled a hole)."""
        ranges = self._ranges
        if self.restarts and ts_ms <= self.after_ts_ms:
            self.duplicates += 1  # from an earlier run (see the module docstring)
            return True, 0
        if ranges:
            last = ranges[-1]
            if seq == last + 1:  # the common case: the next one, in order
                ranges[-1] = seq
                self.seen += 1
                if ts_ms > self.last_ts_ms:
                    self.last_ts_ms = ts_ms
                return False, 0
            if seq > last:  # ahead, after a hole (or the other replicas' share)
                hole = seq - last - 1
                self.seen += 1
                if ts_ms > self.last_ts_ms:
                    self.last_ts_ms = ts_ms
                if len(ranges) < 2 * RANGE_CAP:
                    ranges.append(seq)
                    ranges.append(seq)
                    if self._min_hole >= 0 and hole < self._min_hole:
                        self._min_hole = hole
                elif hole <= self._smallest_hole():  # at the cap, and the new hole is (one of) the smallest
                    ranges[-1] = seq
                    self.written_off += hole
                else:
                    ranges.append(seq)
                    ranges.append(seq)
                    self._merge_smallest_hole()
                return False, hole
            if ts_ms > self.last_ts_ms:
                self._restart()
                ranges = self._ranges
        before = self.span - self.seen
        if not self.add_range(seq, seq):
            self.duplicates += 1
            return True, 0
        if ts_ms > self.last_ts_ms:
            self.last_ts_ms = ts_ms
        if ts_ms < self.start_ts_ms or self.seen == 1:
            self.start_ts_ms = ts_ms
        return False, self.span - self.seen - before

    def add_range(self, start: int, end: int) -> int:
        """Mark ``start..end`` as seen; return how many of them were new (also added to ``seen``)."""
        ranges = self._ranges
        self._min_hole = -1
        low = bisect_left(ranges, start - 1) // 2  # first range that ends at or after start - 1
        high = (bisect_right(ranges, end + 1) - 1) // 2  # last range that starts at or before end + 1
        if low > high:
            ranges[2 * low : 2 * low] = array("q", (start, end))
            new = end - start + 1
        else:
            covered = 0
            for index in range(2 * low, 2 * high + 2, 2):
                covered += max(0, min(ranges[index + 1], end) - max(ranges[index], start) + 1)
            new = end - start + 1 - covered
            merged = array("q", (min(start, ranges[2 * low]), max(end, ranges[2 * high + 1])))
            ranges[2 * low : 2 * high + 2] = merged
        self.seen += new
        if len(ranges) > 2 * RANGE_CAP:
            self._merge_smallest_hole()
        return new

    def _smallest_hole(self) -> int:
        if self._min_hole < 0:
            ranges = self._ranges
            self._min_hole = min(map(sub, ranges[2::2], ranges[1:-1:2]), default=1 << 62) - 1
        return self._min_hole

    def _merge_smallest_hole(self) -> None:
        ranges = self._ranges
        holes = list(map(sub, ranges[2::2], ranges[1:-1:2]))  # start of the next range - end of this one
        smallest = min(holes)
        index = 2 * holes.index(smallest) + 1  # the first (oldest) of the smallest
        self.written_off += smallest - 1
        del ranges[index : index + 2]
        self._min_hole = -1

    def _restart(self) -> None:
        self.closed_span += self.span
        self.closed_seen += self.seen
        self.after_ts_ms = self.last_ts_ms
        self.restarts += 1
        self._ranges = array("q")
        self._min_hole = -1
        self.seen = self.written_off = 0
        self.start_ts_ms = self.last_ts_ms = 0

    # -- persistence -----------------------------------------------------------------------------------------

    def fields(self) -> dict[str, int | str]:
        """The tracker's part of a ``device_health`` point (names as in :mod:`smartcity.health`)."""
        return {
            "first_seq": self.first_seq,
            "seen": self.seen,
            "ranges": format_ranges(self._ranges),
            "written_off": self.written_off,
            "restarts": self.restarts,
            "run_start_ms": self.start_ts_ms,
            "run_after_ms": self.after_ts_ms,
            "last_ts_ms": self.last_ts_ms,
            "closed_span": self.closed_span,
            "closed_seen": self.closed_seen,
        }

    @classmethod
    def restore(cls, record: ReplicaHealth) -> SequenceTracker:
        """The tracker a replica wrote as ``record``. Ranges that do not match the counts (written by something
        else) are replaced by one range over first..last with the difference written off, so the gap figure
        stays what was stored."""
        tracker = cls()
        tracker.duplicates, tracker.restarts = record.duplicates, record.restarts
        tracker.start_ts_ms, tracker.last_ts_ms, tracker.after_ts_ms = (
            record.run_start_ms,
            record.last_ts_ms,
            record.run_after_ms,
        )
        tracker.closed_span, tracker.closed_seen = record.closed_span, record.closed_seen
        if not record.sequenced:
            return tracker
        flat = parse_ranges(record.ranges)
        consistent = (
            flat
            and flat[0] == record.first_seq
            and flat[-1] == record.last_seq
            and len(flat) <= 2 * RANGE_CAP
            and range_count(flat) == record.seen + record.written_off
        )
        if not consistent:
            flat = [record.first_seq, record.last_seq]
        tracker._ranges = array("q", flat)
        tracker._min_hole = -1
        tracker.seen = record.seen
        tracker.written_off = range_count(flat) - record.seen
        return tracker

    def absorb(self, live: SequenceTracker) -> SequenceTracker:
        """Combine this restored state with ``live``, what arrived before the restore finished; returns the
        tracker to keep."""
        if not live._ranges:
            self.duplicates += live.duplicates
            return self
        restarted = live.restarts > 0 or (live.start_ts_ms > self.last_ts_ms and live.first_seq <= self.last_seq)
        if restarted and self._ranges:
            live.closed_span += self.closed_span + self.span
            live.closed_seen += self.closed_seen + self.seen
            live.duplicates += self.duplicates
            live.restarts += self.restarts + (0 if live.restarts else 1)
            live.after_ts_ms = max(live.after_ts_ms, self.last_ts_ms)
            return live
        new = sum(self.add_range(start, end) for start, end in live.ranges)
        unseen = min(live.written_off, new)  # what the live tracker wrote off was never seen
        self.seen -= unseen
        self.written_off += unseen
        self.duplicates += live.duplicates + max(0, live.seen - (new - unseen))
        self.last_ts_ms = max(self.last_ts_ms, live.last_ts_ms)
        self.start_ts_ms = min(self.start_ts_ms, live.start_ts_ms) if self.start_ts_ms else live.start_ts_ms
        return self
