"""History planning and formats: resolution choice, the point cap, allowed aggregations, InfluxQL built from the
registry only, CSV and SenML (read back with the core's decoder)."""

from __future__ import annotations

import csv
import io
from ipaddress import IPv6Address

import pytest

from services.api.history import (
    Plan,
    Point,
    Resolution,
    aggregations_for,
    bucket_points,
    choose_resolution,
    raw_points,
    to_csv,
    to_senml,
)
from services.api.problems import ApiProblem
from services.api.queries import Agg, history_query, latest_query
from smartcity.city.model import DeviceType, Facility, FacilityKind, GeoPoint
from smartcity.contract.metrics import METRICS
from smartcity.contract.senml import decode_senml_json
from smartcity.rollups import MINUTE
from tests.support.cities import device_at

DAY_MS = 86_400_000
_SITE = Facility(id="f", kind=FacilityKind.PARK, name="F", district_id="d", location=GeoPoint(lat=50, lon=7))
DEVICES = [device_at(_SITE, f"aq-{i}", DeviceType.AIR_QUALITY, IPv6Address(f"fd00::{i + 1}")) for i in range(3)]


def test_auto_takes_the_finest_bucket_under_the_cap() -> None:
    assert choose_resolution(Resolution.AUTO, span_ms=DAY_MS, devices=DEVICES, max_points=50_000) == Plan(
        Resolution.MINUTE, 60, 1441, MINUTE
    )
    month = choose_resolution(Resolution.AUTO, span_ms=30 * DAY_MS, devices=DEVICES, max_points=10_000)
    assert (month.resolution, month.points) == (Resolution.HOUR, 721)


def test_raw_points_follow_the_report_intervals() -> None:
    assert raw_points(DEVICES, 3_600_000) == 3 * 60  # 60 s each
    plan = choose_resolution(Resolution.RAW, span_ms=3_600_000, devices=DEVICES, max_points=1_000)
    assert (plan.bucket_s, plan.points) == (None, 180)


def test_the_cap_refuses_with_422_naming_the_limit() -> None:
    with pytest.raises(ApiProblem) as refused:
        choose_resolution(Resolution.MINUTE, span_ms=30 * DAY_MS, devices=DEVICES, max_points=10_000)
    assert refused.value.status == 422
    assert "10,000" in refused.value.detail
    assert "SMARTCITY_API_MAX_POINTS" in refused.value.detail
    with pytest.raises(ApiProblem):  # even daily buckets over 100 years are too many
        choose_resolution(Resolution.AUTO, span_ms=36_500 * DAY_MS, devices=DEVICES, max_points=10_000)
    assert bucket_points(60_000, 60) == 2  # an unaligned minute touches two buckets


def test_booleans_and_text_only_count() -> None:
    assert aggregations_for(METRICS["pm25"]) == list(Agg)
    assert aggregations_for(METRICS["lamp_on"]) == [Agg.COUNT]
    assert aggregations_for(METRICS["message"]) == [Agg.COUNT]


def test_queries_carry_values_as_bind_parameters_only() -> None:
    query, params = history_query(METRICS["pm25"], "district", "x' OR 1=1", 1000, 2000, 3600, Agg.P95)
    assert query == (
        'SELECT PERCENTILE("pm25", 95) AS "value" FROM "air_quality" WHERE "district" = $ident '
        "AND time >= $start AND time < $end GROUP BY time(3600s) fill(none)"
    )
    assert params == {"ident": "x' OR 1=1", "start": 1_000_000_000, "end": 2_000_000_000}
    raw, _params = history_query(METRICS["lamp_on"], "device", "d", 0, 1, None, Agg.MEAN)
    assert raw.endswith('GROUP BY "device"')
    with pytest.raises(ValueError, match="scope"):
        history_query(METRICS["pm25"], 'device" OR 1=1', "d", 0, 1, None, Agg.MEAN)
    latest, since = latest_query(5)
    assert latest.count("SELECT LAST(") == len(METRICS)
    assert since == {"since": 5_000_000}


POINTS = [Point(1_741_000_800_000, 12.5, "aq-1"), Point(1_741_000_860_500, True, "aq-2")]


def test_csv_has_a_header_and_iso_times() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(POINTS, raw=True))))
    assert rows == [
        ["time", "device", "value"],
        ["2025-03-03T11:20:00.000Z", "aq-1", "12.5"],
        ["2025-03-03T11:21:00.500Z", "aq-2", "true"],
    ]
    assert to_csv([Point(0, 3)], raw=False) == "time,value\n1970-01-01T00:00:00.000Z,3\n"


def test_senml_round_trips_through_the_core_decoder() -> None:
    spec = METRICS["pm25"]
    points = [
        Point(1_741_000_800_000, 12.5, "aq-1"),
        Point(1_741_000_801_250, 13.0, "aq-1"),
        Point(1_741_000_800_000, 7.0, "aq-2"),
    ]
    records = decode_senml_json(to_senml(points, spec, name="district:d", unit=True))
    assert [(r.bn, r.bu, r.n, r.v) for r in records] == [
        ("aq-1:", "ug/m3", "pm25", 12.5),
        (records[1].bn, records[1].bu, "pm25", 13.0),
        ("aq-2:", "ug/m3", "pm25", 7.0),
    ]
    assert records[1].t == 1.25  # relative to the pack's base time
    counted = decode_senml_json(to_senml([Point(0, 4)], spec, name="district:d", unit=False))
    assert (counted[0].bn, counted[0].v) == ("district:d:", 4)
    assert not isinstance(counted[0].bu, str)
