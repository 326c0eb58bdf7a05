"""Late-data marks: which hour windows received points after the roll-up worker may have computed them.

InfluxDB keeps no ingest time, so nothing in the store says a point arrived late. The gateway says it: with every
batch it writes (in the same write, so the marks are durable exactly when the points are) one ``late_windows``
point per hour window that the batch's readings fell into and that ended more than :data:`LATE_MARGIN_S` before.
The roll-up worker reads the marks written since its cursor and recomputes those hours (and the days that hold
them). A mark written twice is harmless: recomputing a window is idempotent. A batch replayed from the spool is
marked again at its replay time (the worker's cursor may have passed the marks it was spooled with).

    measurement  late_windows
    tags         hour    start of the hour window, Unix ms (bounded: the gateway's late-data window, 31 days)
    fields       points  late readings of the batch in that hour
    time         the gateway's clock when the batch was written (ms)

There is no gateway tag: two replicas marking the same hour in the same millisecond write the same mark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import encode_point
from smartcity.influx.schema import LATE_WINDOWS

HOUR_MS = 3_600_000
LATE_MARGIN_S = 60
"""An hour that ended less than this before the batch was durable is not marked: the worker waits at least twice
as long (its ``SETTLE_S``, which covers clock offsets up to this margin) before it computes an hour."""


def late_window_lines(ts_ms: Sequence[int], *, now_ms: int) -> list[str]:
    """The ``late_windows`` lines for readings with device times ``ts_ms`` written at ``now_ms`` (usually none: the
    common case costs one ``min``; a backlog's batch, all late, one pass in C)."""
    # An hour is late when it ended at or before now - margin, i.e. when it starts before the hour holding that.
    cutoff = (now_ms - LATE_MARGIN_S * 1000) // HOUR_MS * HOUR_MS
    if not ts_ms or min(ts_ms) >= cutoff:
        return []
    hour_of = HOUR_MS.__rfloordiv__  # ts // HOUR_MS
    hours = Counter(map(hour_of, ts_ms if max(ts_ms) < cutoff else [ts for ts in ts_ms if ts < cutoff]))
    return [
        encode_point(LATE_WINDOWS, {"hour": str(hour * HOUR_MS)}, {"points": n}, now_ms)
        for hour, n in sorted(hours.items())
    ]


def line_timestamps(lines: Iterable[str]) -> list[int]:
    """The millisecond timestamps at the end of line-protocol lines (a spooled batch keeps only its lines)."""
    stamps = []
    for line in lines:
        tail = line.rpartition(" ")[2]
        if tail.isdigit():
            stamps.append(int(tail))
    return stamps


async def read_late_windows(influx: InfluxClient, *, since_ms: int, until_ms: int) -> tuple[set[int], int | None]:
    """Hour starts marked late in ``(since_ms, until_ms]`` and the newest mark's time (None when there is none)."""
    query = f'SELECT "points" FROM "{LATE_WINDOWS}" WHERE time > $since AND time <= $until GROUP BY "hour"'
    hours: set[int] = set()
    newest: int | None = None
    params = {"since": since_ms * 1_000_000, "until": until_ms * 1_000_000}
    for series in await influx.query(query, params):
        hour = series.tags.get("hour", "")
        if not hour.isdigit():
            continue
        hours.add(int(hour))
        for row in series.values:
            if row and isinstance(row[0], int):
                newest = row[0] if newest is None else max(newest, row[0])
    return hours, newest
