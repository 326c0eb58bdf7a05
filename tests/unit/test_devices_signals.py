"""Signals: deterministic from seed and time, inside the registry ranges, with the rhythms the city expects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devices.drivers import LocalClock, LocalTime, occupancy_share, traffic_intensity
from devices.signals import DeviceControls, SignalModel
from smartcity.city.model import DeviceType, FacilityKind
from smartcity.contract.metrics import METRICS, MetricKind
from tests.support.devices import simulator_city

ALL_TYPES = list(DeviceType)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_same_seed_and_time_give_the_same_readings() -> None:
    city = simulator_city(ALL_TYPES)
    first, second = SignalModel(city, 7), SignalModel(city, 7)
    for device in city.devices:
        controls = DeviceControls(report_interval_s=60)
        t = _ms("2026-03-04T08:15:00")
        assert first.sample(first.context(device), t, controls) == second.sample(second.context(device), t, controls)


def test_another_seed_gives_other_readings() -> None:
    city = simulator_city([DeviceType.AIR_QUALITY])
    device = city.devices[0]
    t = _ms("2026-03-04T08:15:00")
    a = SignalModel(city, 1).sample(SignalModel(city, 1).context(device), t, DeviceControls(60))
    b = SignalModel(city, 2).sample(SignalModel(city, 2).context(device), t, DeviceControls(60))
    assert a != b


def test_every_value_of_every_type_stays_inside_the_registry_range_for_a_year() -> None:
    city = simulator_city(ALL_TYPES)
    model = SignalModel(city, 3)
    start = _ms("2026-01-01T00:00:00")
    for device in city.devices:
        ctx = model.context(device)
        for step in range(0, 365 * 24, 7):  # every 7 hours for a year: all hours, weekdays and seasons
            values = model.sample(ctx, start + step * 3_600_000, DeviceControls(60))
            assert values, device.type
            for name, value in values.items():
                spec = METRICS[name]
                if spec.kind in (MetricKind.FLOAT, MetricKind.INT):
                    assert isinstance(value, int | float)
                    assert not isinstance(value, bool)
                    assert spec.minimum is None or value >= spec.minimum, (name, value)
                    assert spec.maximum is None or value <= spec.maximum, (name, value)
                elif spec.kind is MetricKind.BOOL:
                    assert isinstance(value, bool)
                else:
                    assert isinstance(value, str)
                    assert len(value) <= spec.max_length


def test_weather_is_shared_within_a_district() -> None:
    city = simulator_city([DeviceType.WEATHER, DeviceType.WEATHER])
    model = SignalModel(city, 5)
    a, b = (model.context(device) for device in city.devices)
    for hour in range(0, 24 * 14, 5):
        t = _ms("2026-05-01T00:00:00") + hour * 3_600_000
        ta = model.sample(a, t, DeviceControls(60))["temperature"]
        tb = model.sample(b, t, DeviceControls(60))["temperature"]
        assert isinstance(ta, float)
        assert isinstance(tb, float)
        assert abs(ta - tb) < 2.0  # same district weather, only sensor noise differs


def test_street_light_is_on_at_night_off_at_noon_and_obeys_the_dim_level() -> None:
    city = simulator_city([DeviceType.STREET_LIGHT])
    model = SignalModel(city, 1)
    ctx = model.context(city.devices[0])
    noon = model.sample(ctx, _ms("2026-06-21T11:00:00"), DeviceControls(60))
    night = model.sample(ctx, _ms("2026-06-21T23:00:00"), DeviceControls(60))
    dimmed = model.sample(ctx, _ms("2026-06-21T23:00:00"), DeviceControls(60, dim_level=40))
    assert noon["lamp_on"] is False
    assert noon["lamp_power"] == 0
    assert night["lamp_on"] is True
    assert night["dim_level"] == 100
    assert dimmed["dim_level"] == 40
    assert isinstance(dimmed["lamp_power"], float)
    assert isinstance(night["lamp_power"], float)
    assert dimmed["lamp_power"] < night["lamp_power"]


@pytest.mark.parametrize(("when", "busy"), [("2026-03-04T10:00:00", True), ("2026-03-07T10:00:00", False)])
def test_schools_fill_on_weekday_mornings_only(when: str, busy: bool) -> None:
    lt = LocalTime(_ms(when) / 1000, 0.0)
    assert (occupancy_share(FacilityKind.SCHOOL, lt, 15.0) > 0.5) is busy


def test_traffic_peaks_at_weekday_rush_hours() -> None:
    rush = traffic_intensity(LocalTime(_ms("2026-03-04T08:00:00") / 1000, 0.0))
    night = traffic_intensity(LocalTime(_ms("2026-03-04T03:00:00") / 1000, 0.0))
    assert rush > 5 * night


def test_energy_register_never_goes_backwards() -> None:
    city = simulator_city([DeviceType.ENERGY_METER])
    model = SignalModel(city, 1)
    ctx = model.context(city.devices[0])
    readings = [model.sample(ctx, _ms("2026-02-01T00:00:00") + i * 600_000, DeviceControls(600)) for i in range(500)]
    registers = [r["energy"] for r in readings]
    assert registers == sorted(registers)


def _hourly_traffic(timezone: str, day: str) -> list[float]:
    """A traffic counter's mean vehicle count in each UTC hour of ``day`` (one reading a minute)."""
    city = simulator_city([DeviceType.TRAFFIC_COUNTER]).model_copy(update={"timezone": timezone})
    model = SignalModel(city, 4)
    ctx = model.context(city.devices[0])
    start = _ms(f"{day}T00:00:00")
    means = []
    for hour in range(24):
        counts = [
            model.sample(ctx, start + hour * 3_600_000 + minute * 60_000, DeviceControls(60))["vehicle_count"]
            for minute in range(60)
        ]
        assert all(isinstance(count, int) for count in counts)
        means.append(sum(counts) / len(counts))  # type: ignore[arg-type]
    return means


@pytest.mark.parametrize(
    ("timezone", "day", "peak_utc_hour"),
    [
        ("Europe/Berlin", "2026-03-27", 16),  # Friday, CET (UTC+1)
        ("Europe/Berlin", "2026-03-30", 15),  # Monday after the change to CEST (UTC+2) on 29 March
        ("America/New_York", "2026-03-06", 22),  # Friday, EST (UTC-5)
        ("America/New_York", "2026-03-09", 21),  # Monday after the change to EDT (UTC-4) on 8 March
        ("Asia/Tokyo", "2026-03-09", 8),  # JST (UTC+9), no daylight saving time
    ],
)
def test_the_evening_rush_hour_is_17_00_in_the_city_s_local_time(timezone: str, day: str, peak_utc_hour: int) -> None:
    means = _hourly_traffic(timezone, day)
    assert means.index(max(means)) == peak_utc_hour  # the hour 17:00-18:00 local, as UTC hour of the day
    local_3am = (peak_utc_hour - 14) % 24
    assert means[peak_utc_hour] > 5 * means[local_3am]


def test_the_local_clock_follows_daylight_saving_time_to_the_second() -> None:
    berlin = LocalClock("Europe/Berlin")
    change = _ms("2026-03-29T01:00:00") / 1000  # 02:00 CET becomes 03:00 CEST
    assert berlin.utc_offset_s(change - 1) == 3600
    assert berlin.utc_offset_s(change) == 7200
    assert berlin.at(change - 1).hour == pytest.approx(2 - 1 / 3600)
    assert berlin.at(change).hour == 3
    autumn = _ms("2026-10-25T01:00:00") / 1000  # 03:00 CEST becomes 02:00 CET
    assert berlin.at(autumn - 1).hour == pytest.approx(3 - 1 / 3600)
    assert berlin.at(autumn).hour == 2
    # A transition inside a quarter hour (Liberia, 1972: -0:44:30 to UTC at 00:44:30 UTC) is exact as well.
    monrovia = LocalClock("Africa/Monrovia")
    shift = _ms("1972-01-07T00:44:30") / 1000
    assert (monrovia.utc_offset_s(shift - 1), monrovia.utc_offset_s(shift)) == (-2670, 0)


def test_the_weekday_is_the_local_one() -> None:
    monday_in_tokyo = LocalClock("Asia/Tokyo").at(_ms("2026-03-08T15:30:00") / 1000)  # Sunday in UTC
    assert (monday_in_tokyo.weekday, monday_in_tokyo.hour) == (0, 0.5)
