"""Grafana's expansion rules as tests/support/grafana_expand.py reimplements them (the cases of Grafana's own
``datasource.test.ts`` for ``interpolateQueryExpr``, gtime's rounding and formatting, panel ranges)."""

from __future__ import annotations

import pytest

from tests.support.grafana_expand import (
    DAY,
    HOUR,
    MINUTE,
    Selection,
    expand,
    format_interval,
    format_value,
    interval_ms,
    panel_range,
    referenced,
    round_interval,
)

QUERY = (
    'SELECT x FROM m WHERE "district" =~ /^$district$/ AND "kind" = \'$kind\' AND $timeFilter '
    "GROUP BY time($__interval)"
)


def test_a_plain_variable_is_escaped_only_inside_a_regex() -> None:
    plain = Selection(("/special/path",), multi=False, include_all=False)
    assert format_value(plain, in_regex=True) == r"\/special\/path"
    assert format_value(plain, in_regex=False) == "/special/path"


def test_multi_value_and_all_become_an_escaped_alternation() -> None:
    assert format_value(Selection(("a.b", "c"), multi=True, include_all=True), in_regex=True) == r"(a\.b|c)"
    assert format_value(Selection(("env", "env2", "env3"), multi=False, include_all=True), in_regex=True) == (
        "(env|env2|env3)"
    )
    assert format_value(Selection(("north",), multi=True, include_all=True), in_regex=True) == "north"


def test_expand_fills_variables_time_filter_and_interval() -> None:
    selections = {
        "district": Selection(("north", "south"), multi=True, include_all=True),
        "kind": Selection(("school",), multi=False, include_all=False),
    }
    text = expand(QUERY, selections, start_ms=1000, end_ms=2000, interval=HOUR)
    assert text == (
        'SELECT x FROM m WHERE "district" =~ /^(north|south)$/ AND "kind" = \'school\' AND '
        "time >= 1000ms and time <= 2000ms GROUP BY time(1h)"
    )
    assert referenced(QUERY) == ["district", "kind"]


@pytest.mark.parametrize(
    ("raw_ms", "rounded"),
    [(86_000, MINUTE), (10 * MINUTE + 5, 10 * MINUTE), (50 * MINUTE, HOUR), (3 * DAY, DAY), (40 * DAY, 30 * DAY)],
)
def test_intervals_round_like_gtime(raw_ms: int, rounded: int) -> None:
    assert round_interval(raw_ms) == rounded


def test_a_minimum_interval_wins_and_formats_in_whole_units() -> None:
    assert interval_ms(30 * DAY, 1000, "1h") == HOUR
    assert interval_ms(DAY, 1000, "1m") == MINUTE
    assert [format_interval(v) for v in (HOUR, 2 * DAY, 90 * MINUTE, 500)] == ["1h", "2d", "1h", "500ms"]


def test_panel_ranges_follow_time_from_and_local_midnight() -> None:
    now = 1_750_000_000_000  # 2025-06-15T15:06:40Z, 17:06 in Berlin
    assert panel_range(now, "now-24h", None, "UTC") == (now - DAY, now)
    assert panel_range(now, "now-24h", "15m", "UTC") == (now - 15 * MINUTE, now)
    start, _ = panel_range(now, "now-7d", "now/d", "Europe/Berlin")
    assert start == 1_749_938_400_000  # 2025-06-14T22:00Z = local midnight
