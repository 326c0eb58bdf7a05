"""The API benchmark's data builder (``tests/support/fast_rollups.py``, used by ``bench/api_dataset.py``) writes the
roll-up points the worker would: the same readings written as raw points to the real influxd and rolled up by the
worker's ``compute_hour`` and ``compute_day`` give the builder's lines (``tests/support/fast_rollups_check.py``), and
its fast line writer gives the worker's line format byte for byte."""

from __future__ import annotations

import time

import pytest

from services.rollup.aggregate import lines
from smartcity.city.generate import generate_city
from smartcity.settings import InfluxSettings
from tests.support.city_signals import HOUR_MS, CitySignals
from tests.support.fast_rollups import Layout, city_tags, day_of_hour, device_data, tier_lines
from tests.support.fast_rollups_check import RollupMismatch, _same, check_against_worker, check_hours, sample_devices

CITY = generate_city(devices=400, seed=3)
MINUTE_DISTRICT = CITY.districts[0].id


def _layout() -> Layout:
    anchor = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    return Layout.plan(
        anchor, days=3, minute_days=1, raw_hours=2, minute_district=MINUTE_DISTRICT, timezone=CITY.timezone
    )


async def test_builder_points_equal_what_the_worker_computes_from_the_raw_points(
    influx_settings: InfluxSettings,
) -> None:
    layout = _layout()
    devices = sample_devices(CITY, MINUTE_DISTRICT)
    result = await check_against_worker(
        influx_settings,
        CITY,
        layout,
        CitySignals(CITY, 3, layout.anchor_ms),
        city_tags(CITY),
        day_of_hour(layout, CITY.timezone),
        devices,
    )
    types = {device.type for device in CITY.devices}
    assert result.devices == len(devices) > len(types)  # every type, in and outside the minute district
    assert result.hours == check_hours(layout)
    assert len(result.hours) == 3
    # each checked hour holds minute points of the devices reporting at their interval, and one point per device
    # and measurement (device_vitals too in the hour rolled up from raw)
    assert result.minute_points > result.hour_points > len(devices)
    assert result.day_points >= len(devices)


def test_fast_line_writer_writes_the_workers_lines() -> None:
    layout = _layout()
    signals, tags, day_of = CitySignals(CITY, 3, layout.anchor_ms), city_tags(CITY), day_of_hour(layout, CITY.timezone)
    compared = 0
    for device in sample_devices(CITY, MINUTE_DISTRICT):
        data = device_data(signals, device, layout, tags[device.id], day_of)
        for windows in (data.minutes, data.hours, data.days):
            ours = tier_lines(windows)
            assert ours == lines(windows), device.id
            compared += len(ours)
    assert compared > 5_000  # how many depends on the hour it runs (local days cut at the city's midnight)


def test_the_comparison_catches_a_one_bit_difference() -> None:
    line = "air_quality,device=aq-1 pm25_count=3i,pm25_sum=30.000000000000004,pm25_min=9.5,pm25_max=11.25 60000"
    off_by_one_bit = line.replace("30.000000000000004", "30.000000000000007")
    _same("hour", [line], [line], exact=True)
    with pytest.raises(RollupMismatch, match="the builder"):
        _same("hour", [line], [off_by_one_bit], exact=True)
    _same("day", [line], [off_by_one_bit], exact=False)  # days: InfluxDB's shard-wise sums may round differently
    with pytest.raises(RollupMismatch):
        _same("day", [line], [line.replace("pm25_count=3i", "pm25_count=4i")], exact=False)
    with pytest.raises(RollupMismatch):
        _same("day", [line], [line.replace("pm25_max=11.25", "pm25_max=11.2500001")], exact=False)
    with pytest.raises(RollupMismatch, match="wrote nothing"):
        _same("hour", [], [line], exact=True)
