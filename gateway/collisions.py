"""Readings of one device at the same millisecond that would overwrite each other in InfluxDB.

A point's identity is (measurement, tags, time), and a write to an existing point replaces the fields it carries.
Two *different* readings of a device with the same timestamp (a clock with coarse resolution, a device reusing a
time, two "now" packs anchored alike) would silently lose the first one's values. The guard remembers recently
accepted readings by (device, timestamp) and refuses a later one that would change a stored field: a metric both
carry with different values, or a different ``seq`` in a measurement both write. The later one is the loser
(dead-lettered as ``timestamp-collision``); the earlier one stays as it was.

Not collisions: a redelivery of the same reading (same values: rewriting them is harmless), and readings that
write different fields (InfluxDB merges them into one point; a reading without ``seq`` writes no ``seq``).

Bounded: the last ``max_entries`` readings are remembered (two generations, so no per-entry eviction cost, and
between 4,096 and 8,192 readings, about 5 MB, by default); a collision with an older reading goes unnoticed. The
horizon is a count of readings, not a time: at a city's steady rate (2,000 devices a minute) it covers minutes, in
a backlog drain at 50,000 readings a second a tenth of a second, which still holds the collisions that happen
(consecutive readings of one device: a coarse clock, a repeated time, two "now" packs anchored alike) unless
thousands of other devices' readings arrive between them.
"""

from __future__ import annotations

from smartcity.contract.metrics import METRICS
from smartcity.contract.reading import Reading
from smartcity.contract.validate import element, show

DEFAULT_MAX_ENTRIES = 8_192
_MISSING = object()


class CollisionGuard:
    """Call :meth:`check` for every reading about to be written, in arrival order."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 2:
            raise ValueError("max_entries must be at least 2")
        self._half = max_entries // 2
        self._current: dict[tuple[str, int], Reading] = {}
        self._previous: dict[tuple[str, int], Reading] = {}
        self.collisions = 0
        """Readings refused so far (for the gateway's counters)."""

    def check(self, reading: Reading) -> str | None:
        """None when ``reading`` may be written (it is remembered); else the rejection detail: which stored field
        it would overwrite. A refused reading is not remembered."""
        key = (reading.device_id, reading.ts_ms)
        current = self._current
        earlier = current.get(key)
        if earlier is None:
            earlier = self._previous.get(key)
            if earlier is None:  # the common case, inlined: remember it and go on
                current[key] = reading
                if len(current) >= self._half:
                    self._previous, self._current = current, {}
                return None
        conflict = _conflict(earlier, reading)
        if conflict is not None:
            self.collisions += 1
            return f"{conflict} of a different reading at the same millisecond ({reading.ts_ms})"
        if reading.values.keys() - earlier.values.keys() or (earlier.seq is None and reading.seq is not None):
            merged = Reading(
                reading.device_id,
                earlier.seq if earlier.seq is not None else reading.seq,
                reading.ts_ms,
                earlier.values | reading.values,
            )
            self._remember(key, merged)  # what the point holds now: later readings are compared with all of it
        return None

    def _remember(self, key: tuple[str, int], reading: Reading) -> None:
        current = self._current
        current[key] = reading
        if len(current) >= self._half:
            self._previous, self._current = current, {}

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)


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
