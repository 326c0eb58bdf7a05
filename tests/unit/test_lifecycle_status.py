"""The status's pieces without a store: InfluxDB durations, how long a row's points stay and by what, when its oldest
leaves, and the table's columns."""

from __future__ import annotations

import pytest

from services.lifecycle.cli import table
from services.lifecycle.holdings import holdings
from services.lifecycle.status import HeldRow, duration_days

DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("text", "days"), [("840h0m0s", 35.0), ("0s", None), ("24h0m0s", 1.0), ("1h30m0s", 1.5 / 24), ("17520h0m0s", 730.0)]
)
def test_influxdb_durations_in_days(text: str, days: float | None) -> None:
    assert duration_days(text) == days


def test_a_duration_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not an InfluxDB duration"):
        duration_days("35d")


def test_a_row_says_when_its_oldest_point_leaves_and_the_table_shows_it() -> None:
    school = next(h for h in holdings() if h.name == "school-occupancy")
    row = HeldRow(school, "rp_1d", 0, 2 * DAY_MS, 3, 366, "smartcity data expire")
    assert row.expires_ms == 366 * DAY_MS
    forever = HeldRow(school, "rp_1d", 0, DAY_MS, None, None, "retention policy")
    assert forever.expires_ms is None
    head, first, second = table([row, forever], now_ms=DAY_MS)
    assert head.split()[:3] == ["holding", "kind", "measurement"]
    assert "366 d (smartcity data expire)" in first
    assert first.rstrip().endswith("1971-01-02T00:00Z")
    assert "for ever (retention policy)" in second
    assert table([row], now_ms=400 * DAY_MS)[1].endswith("1971-01-02T00:00Z (due)")
    assert second.split()[7] == "-"  # no estimate ("open dataset" is two words)
