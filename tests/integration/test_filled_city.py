"""The filled city holds what its description says, and its cache is deterministic and reused.

The data-set checks read the session's ``filled_city`` database through the core's InfluxDB adapter (InfluxQL
with bind parameters); the cache checks build a 20-device, two-day history in a temporary directory.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from smartcity.city.model import DeviceType, FacilityKind, NetworkClass
from smartcity.contract.metrics import DEVICE_METRICS, METRICS
from smartcity.influx.client import InfluxClient, Series, quote_identifier
from smartcity.localservices import InfluxdProcess
from smartcity.settings import InfluxSettings
from tests.support.city_history import (
    DAY_MS,
    GAP_HOURS,
    HOUR_MS,
    HistorySpec,
    ImperfectionKind,
)
from tests.support.filled_city import FilledCity, build_cache, load_filled_city
from tests.support.point_cache import cache_key, cache_path

SMALL = HistorySpec(devices=20, seed=5, districts=2, days=2)
"""Small enough to build in a few seconds, still with a narrowband device and an energy meter."""
_NS = 1_000_000


def _ns(ms: int) -> int:
    return ms * _NS


def _column(series: list[Series], column: str) -> list[object]:
    return [record[column] for item in series for record in item.records()]


async def _count(client: InfluxClient, source: str, where: str, params: Mapping[str, str | int]) -> int:
    """count("seq") summed over every measurement ``source`` names (a quoted name or a regex)."""
    series = await client.query(f'SELECT count("seq") FROM {source} WHERE {where}', params)
    return sum(int(value) for value in _column(series, "count"))  # type: ignore[call-overload]


async def _one(client: InfluxClient, statement: str, params: Mapping[str, str | int], column: str) -> float:
    values = _column(await client.query(statement, params), column)
    assert len(values) == 1, f"{statement} with {params} gave {values}"
    return float(values[0])  # type: ignore[arg-type]


def _measurement_of(device_type: DeviceType) -> str:
    """Where a device's first metric lands: broadband readings always carry it."""
    return quote_identifier(METRICS[DEVICE_METRICS[device_type][0]].measurement)


def test_the_city_has_every_device_type_and_facility_kind_in_several_districts(filled_city: FilledCity) -> None:
    city = filled_city.city
    assert {device.type for device in city.devices} == set(DeviceType), "pick a seed that gives every type"
    assert {facility.kind for facility in city.facilities} == set(FacilityKind)
    assert len(city.districts) == filled_city.spec.districts >= 4
    assert {device.network for device in city.devices} == set(NetworkClass)
    assert 300 <= len(city.devices) <= 500


def test_the_time_range_is_whole_days_ending_at_an_hour(filled_city: FilledCity) -> None:
    assert filled_city.end_ms % HOUR_MS == 0
    assert filled_city.end_ms - filled_city.start_ms == filled_city.spec.days * DAY_MS
    assert 500_000 <= filled_city.total_points <= 2_000_000


async def test_every_measurement_holds_the_points_the_description_counts(filled_city: FilledCity) -> None:
    params: dict[str, str | int] = {"start": _ns(filled_city.start_ms), "end": _ns(filled_city.end_ms)}
    async with InfluxClient(filled_city.influx) as client:
        measurements = _column(await client.query("SHOW MEASUREMENTS"), "name")
        assert sorted(map(str, measurements)) == sorted(filled_city.points)
        for measurement, expected in filled_city.points.items():
            inside = await _count(client, quote_identifier(measurement), "time >= $start AND time < $end", params)
            assert inside == expected, measurement
        everything = await _count(client, "/.*/", "time > 0", {})
    assert everything == filled_city.total_points, "no point lies outside [start_ms, end_ms)"


async def test_the_data_fills_the_range_from_its_first_hour_to_its_last(filled_city: FilledCity) -> None:
    first_hour = {"a": _ns(filled_city.start_ms), "b": _ns(filled_city.start_ms + HOUR_MS)}
    last_hour = {"a": _ns(filled_city.end_ms - HOUR_MS), "b": _ns(filled_city.end_ms)}
    async with InfluxClient(filled_city.influx) as client:
        assert await _count(client, '"device_vitals"', "time >= $a AND time < $b", first_hour) > 0
        assert await _count(client, '"device_vitals"', "time >= $a AND time < $b", last_hour) > 0


async def test_every_device_of_the_city_has_points(filled_city: FilledCity) -> None:
    async with InfluxClient(filled_city.influx) as client:
        found = _column(await client.query('SHOW TAG VALUES WITH KEY = "device"'), "value")
    assert set(found) == {device.id for device in filled_city.city.devices}


async def test_the_gap_device_is_silent_for_hours_and_its_sequence_jumps(filled_city: FilledCity) -> None:
    gap = filled_city.imperfection(ImperfectionKind.GAP)
    device = next(device for device in filled_city.city.devices if device.id == gap.device_id)
    assert device.network is NetworkClass.BROADBAND
    assert gap.end_ms - gap.start_ms == GAP_HOURS * HOUR_MS
    source = _measurement_of(device.type)
    params: dict[str, str | int] = {"d": device.id, "a": _ns(gap.start_ms), "b": _ns(gap.end_ms)}
    around: dict[str, str | int] = {"d": device.id, "a": _ns(gap.start_ms - HOUR_MS), "b": _ns(gap.end_ms + HOUR_MS)}
    async with InfluxClient(filled_city.influx) as client:
        assert await _count(client, source, '"device" = $d AND time >= $a AND time < $b', params) == 0
        in_reach = await _count(client, source, '"device" = $d AND time >= $a AND time < $b', around)
        before = await _one(
            client, f'SELECT last("seq") FROM {source} WHERE "device" = $d AND time < $a', params, "last"
        )
        after = await _one(
            client, f'SELECT first("seq") FROM {source} WHERE "device" = $d AND time >= $b', params, "first"
        )
    per_hour = 3600 // device.report_interval_s
    assert in_reach == 2 * per_hour, "it reports on schedule the hour before and after"
    assert after - before - 1 == GAP_HOURS * per_hour, "the lost readings took their sequence numbers"


async def test_the_meter_register_restarts_from_zero_and_counts_up(filled_city: FilledCity) -> None:
    reset = filled_city.imperfection(ImperfectionKind.METER_RESET)
    assert reset.metric is not None
    field, source = quote_identifier(reset.metric), quote_identifier(METRICS[reset.metric].measurement)
    params: dict[str, str | int] = {"d": reset.device_id, "r": _ns(reset.start_ms)}
    async with InfluxClient(filled_city.influx) as client:
        before = await _one(
            client, f'SELECT last({field}) FROM {source} WHERE "device" = $d AND time < $r', params, "last"
        )
        series = await client.query(f'SELECT {field} FROM {source} WHERE "device" = $d AND time >= $r', params)
    after = [float(value) for value in _column(series, reset.metric)]  # type: ignore[arg-type]
    meter = next(device for device in filled_city.city.devices if device.id == reset.device_id)
    assert meter.network is NetworkClass.BROADBAND  # one reading a minute: the first after the reset is small
    assert before > 1000.0
    assert 0.0 <= after[0] < 10.0
    assert after == sorted(after), "a register never falls between resets"
    assert after[-1] < before


def test_the_late_device_is_narrowband(filled_city: FilledCity) -> None:
    late = filled_city.imperfection(ImperfectionKind.LATE)
    device = next(device for device in filled_city.city.devices if device.id == late.device_id)
    assert device.network is NetworkClass.NARROWBAND
    assert late.delay_s > 0
    assert (late.start_ms, late.end_ms) == (filled_city.start_ms, filled_city.end_ms)
    assert len({flaw.device_id for flaw in filled_city.imperfections}) == len(ImperfectionKind)


_SMALL_NOW_MS = 1_800_000_000_000 + 17 * 60_000
"""A fixed load instant for the small data set: 17 minutes into a UTC hour."""
_STALE = "0123456789abcdef.lp.gz"


@pytest.fixture(scope="module")
def small_cold(tmp_path_factory: pytest.TempPathFactory, influxd: InfluxdProcess) -> Iterator[FilledCity]:
    """The small data set loaded once into a fresh cache directory that holds a stale cache file."""
    cache_dir = tmp_path_factory.mktemp("filled-city-cache")
    (cache_dir / _STALE).write_bytes(b"stale")
    database = f"test_{uuid.uuid4().hex[:12]}"
    yield load_filled_city(influxd.url, spec=SMALL, database=database, cache_dir=cache_dir, now_ms=_SMALL_NOW_MS)
    asyncio.run(_drop(influxd.url, database))


async def _drop(url: str, database: str) -> None:
    async with InfluxClient(InfluxSettings(url=url, database=database)) as client:
        await client.drop_database()


def test_a_cold_load_builds_the_cache_and_removes_stale_ones(small_cold: FilledCity) -> None:
    assert small_cold.cache.built
    assert small_cold.cache.build_s > 0
    assert [path.name for path in small_cold.cache.path.parent.glob("*.lp.gz")] == [small_cold.cache.path.name]
    hour = _SMALL_NOW_MS - 17 * 60_000
    assert (small_cold.start_ms, small_cold.end_ms) == (hour - SMALL.days * DAY_MS, hour)


def test_a_warm_load_reads_the_cache_without_rebuilding(small_cold: FilledCity) -> None:
    stamp = small_cold.cache.path.stat().st_mtime_ns
    warm = load_filled_city(
        small_cold.influx.url,
        spec=SMALL,
        database=small_cold.influx.database,
        cache_dir=small_cold.cache.path.parent,
        now_ms=_SMALL_NOW_MS,
    )
    assert not warm.cache.built
    assert warm.cache.build_s == 0
    assert warm.cache.path == small_cold.cache.path
    assert warm.cache.path.stat().st_mtime_ns == stamp
    assert (warm.points, warm.start_ms, warm.end_ms) == (small_cold.points, small_cold.start_ms, small_cold.end_ms)
    assert warm.imperfections == small_cold.imperfections


def test_two_builds_give_identical_bytes(small_cold: FilledCity, tmp_path: Path) -> None:
    again = cache_path(tmp_path, SMALL)
    lines = build_cache(again, SMALL)
    assert len(lines) > 10_000
    assert again.name == small_cold.cache.path.name
    assert again.read_bytes() == small_cold.cache.path.read_bytes()


def test_the_cache_key_follows_every_constant() -> None:
    variants = [
        SMALL,
        HistorySpec(devices=21, seed=5, districts=2, days=2),
        HistorySpec(devices=20, seed=6, districts=2, days=2),
        HistorySpec(devices=20, seed=5, districts=3, days=2),
        HistorySpec(devices=20, seed=5, districts=2, days=3),
    ]
    assert len({cache_key(spec) for spec in variants}) == len(variants)


def test_a_history_shorter_than_two_days_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 days"):
        HistorySpec(days=1)
