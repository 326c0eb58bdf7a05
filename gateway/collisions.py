"""Readings of one device at the same millisecond that would overwrite each other in InfluxDB.

A point's identity is (measurement, tags, time), and a write to an existing point replaces the fields it carries.
Two *different* readings of a device with the same timestamp (a clock with coarse resolution, a device reusing a
time, two "now" packs anchored alike) would silently lose the first one's values. The guard remembers each
device's previous accepted reading and refuses a later one at its millisecond that would change a stored field: a
metric both carry with different values, or a different ``seq`` in a measurement both write. The later one is the loser
(dead-lettered as ``timestamp-collision``); the earlier one stays as it was.

Not collisions: a redelivery of the same reading (same values: rewriting them is harmless), and readings that
write different fields (InfluxDB merges them into one point; a reading without ``seq`` writes no ``seq``).

Each device's previous accepted reading (in arrival order) is what a reading is compared with: the collisions
that happen (a clock with coarse resolution, a device repeating its last time, two "now" packs anchored alike) are
consecutive readings of one device, however many other devices' readings arrive between them. A reading at the
time of an older one (a device whose clock went back further than its previous reading) is not compared. Memory:
one reading per device, and only known devices get this far (unknown ones are refused by the parser).
"""

from __future__ import annotations

from smartcity.contract.metrics import METRICS
from smartcity.contract.reading import Reading
from smartcity.contract.validate import element, show

_MISSING = object()


class CollisionGuard:
    """Call :meth:`check` for every reading about to be written, in arrival order."""

    def __init__(self) -> None:
        self._previous: dict[str, Reading] = {}
        self.collisions = 0
        """Readings refused so far (for the gateway's counters)."""

    def check(self, reading: Reading) -> str | None:
        """None when ``reading`` may be written (it becomes its device's previous reading); else the rejection
        detail: which stored field it would overwrite. A refused reading is not remembered."""
        previous = self._previous
        earlier = previous.get(reading.device_id)
        if earlier is None or earlier.ts_ms != reading.ts_ms:  # the common case
            previous[reading.device_id] = reading
            return None
        conflict = _conflict(earlier, reading)
        if conflict is not None:
            self.collisions += 1
            return f"{conflict} of a different reading at the same millisecond ({reading.ts_ms})"
        if reading.values.keys() - earlier.values.keys() or (earlier.seq is None and reading.seq is not None):
            # What the point holds now: later readings at this millisecond are compared with all of it.
            previous[reading.device_id] = Reading(
                reading.device_id,
                earlier.seq if earlier.seq is not None else reading.seq,
                reading.ts_ms,
                earlier.values | reading.values,
            )
        return None

    def __len__(self) -> int:
        return len(self._previous)


def _conflict(earlier: Reading, later: Reading) -> str | None:
    stored = earlier.values
    for name, value in later.values.items():
        old = stored.get(name, _MISSING)
        if old is not _MISSING and (old != value or type(old) is not type(value)):
            return f"{element(name)} {show(value)} would overwrite {show(old)}"
    if earlier.seq is not None and later.seq is not None and earlier.seq != later.seq:
        shared = {METRICS[name].measurement for name in stored} & {METRICS[name].measurement for name in later.values}
        if shared:
            return f"seq {later.seq} would overwrite seq {earlier.seq} in {min(shared)}"
    return None
