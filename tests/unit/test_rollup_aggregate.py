"""Roll-up arithmetic: exact combination, reset-aware meter increases, and deterministic lines."""

from __future__ import annotations

from services.rollup.aggregate import Aggregate, Windows, coarsen, lines, meter_increases, parse_windows
from services.rollup.compute import BY_MEASUREMENT, previous_statement, raw_statement, rollup_statements
from smartcity.contract.metrics import METRICS
from smartcity.influx.client import Series
from smartcity.rollups import HOUR


def test_merging_keeps_the_mean_exact_and_the_extremes() -> None:
    total = Aggregate(count=2, sum=3.0, min=1.0, max=2.0)
    total.merge(Aggregate(count=1, sum=10.0, min=10.0, max=10.0))
    total.merge(Aggregate())
    assert (total.count, total.sum, total.min, total.max) == (3, 13.0, 1.0, 10.0)


def test_a_drop_is_a_reset_counted_from_the_new_value() -> None:
    points = [(0, 100.0), (60_000, 101.5), (120_000, 0.5), (180_000, 2.0), (240_000, 2.0)]
    assert meter_increases(points, None, lambda t: t // 120_000) == {0: 1.5, 1: 0.5 + 1.5, 2: 0.0}
    assert meter_increases([(0, 5.0)], 4.0, lambda t: 0) == {0: 1.0}


def test_rows_become_minute_and_hour_points_in_a_fixed_order() -> None:
    series = Series(
        name="air_quality",
        tags={"device": "aq-1", "district": "n", "facility": ""},
        columns=["time", "pm25_sum", "pm25_count", "pm25_min", "pm25_max", "no2_count"],
        values=[[60_000, 6.0, 2, 1.0, 5.0, 0], [0, 4.0, 1, 4.0, 4.0, None]],
    )
    minutes: Windows = {}
    parse_windows([series], BY_MEASUREMENT, minutes)
    assert lines(minutes) == [
        "air_quality,device=aq-1,district=n pm25_count=1i,pm25_sum=4.0,pm25_min=4.0,pm25_max=4.0 0",
        "air_quality,device=aq-1,district=n pm25_count=2i,pm25_sum=6.0,pm25_min=1.0,pm25_max=5.0 60000",
    ]
    hours = coarsen(minutes, lambda t: t // (HOUR.bucket_s * 1000))
    hour_line = "air_quality,device=aq-1,district=n pm25_count=3i,pm25_sum=10.0,pm25_min=1.0,pm25_max=5.0 0"
    assert lines(hours) == [hour_line]


def test_statements_bind_their_bounds_and_name_only_registry_identifiers() -> None:
    statement = raw_statement("air_quality")
    assert statement.startswith('SELECT "no2", "pm25", "pm10", "o3" FROM "air_quality" ')
    assert statement.endswith("WHERE time >= $start AND time < $end GROUP BY *")
    assert raw_statement("parking").startswith('SELECT "occupied" FROM "parking" ')  # the metrics only, no seq
    previous = previous_statement(METRICS["energy"])
    assert 'LAST("energy") AS "previous" FROM "energy"' in previous
    assert "WHERE time >= $since AND time < $until GROUP BY *" in previous
    assert '"city"."rp_1h"."energy"' in rollup_statements("city", HOUR)
    assert 'SUM("energy_increase")' in rollup_statements("city", HOUR)
