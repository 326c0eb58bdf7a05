"""``iso`` (tables and a per-hour cache) writes exactly what ``datetime.isoformat`` writes, at the edges of
seconds, hours, days and years, before the epoch and at random."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from services.api.schemas import iso


def _reference(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_iso_writes_what_datetime_writes() -> None:
    edges = [0, 1, 999, 1_000, 59_999, 60_000, 3_599_999, 3_600_000, 86_399_999, 86_400_000, -1, -1_000, -3_600_001]
    edges += [951_782_400_000, 1_709_164_799_999, 4_102_444_800_000, 7_258_118_399_999]  # leap days, 2100, 2200
    rng = random.Random(7)
    moments = edges + [rng.randrange(-(10**12), 7_258_118_400_000) for _ in range(20_000)]
    assert [iso(ms) for ms in moments] == [_reference(ms) for ms in moments]
    assert iso(1_744_617_600_250) == "2025-04-14T08:00:00.250Z"
