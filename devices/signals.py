"""Per-device-type signal models: what each simulated sensor reads at a given instant.

:class:`SignalModel` turns (device, simulated time, controls) into metric values. Values follow the district's
shared drivers (:mod:`devices.drivers`), the facility kind's daily and weekly rhythm, and keyed noise; they are
rounded and clamped to the registry's ranges, so a fault-free device never sends an out-of-range value.
Cumulative registers (energy, water volume) are closed-form integrals, so they are monotonic without state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from devices import drivers
from devices.drivers import LocalClock, LocalTime, Weather, gauss, stable_key, uniform
from smartcity.city.model import City, Device, DeviceType, FacilityKind, NetworkClass
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricKind
from smartcity.contract.reading import Value

_HOURS_2020 = 1_577_836_800 / 3600  # registers count from 2020-01-01
_BASE_POWER_KW = {
    FacilityKind.HOSPITAL: 450.0,
    FacilityKind.SCHOOL: 60.0,
    FacilityKind.NURSING_HOME: 80.0,
    FacilityKind.LIBRARY: 25.0,
    FacilityKind.PUBLIC_BUILDING: 70.0,
    FacilityKind.CAR_PARK: 15.0,
    FacilityKind.PARK: 2.0,
    FacilityKind.STREET_SEGMENT: 5.0,
}
_DEFAULT_CAPACITY = {FacilityKind.CAR_PARK: 300, FacilityKind.SCHOOL: 400, FacilityKind.HOSPITAL: 250}


@dataclass(slots=True)
class DeviceControls:
    """What commands change on a device; the next readings show it."""

    report_interval_s: int
    dim_level: int | None = None
    """Street lights: the commanded level while the lamp is on (None = automatic, 100 at night)."""
    message: str = "Welcome"
    """Info displays: the text on screen."""


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """Everything about a device that its signals need, computed once."""

    device: Device
    facility_kind: FacilityKind
    capacity: int
    key: int
    district_key: int
    metrics: tuple[str, ...]
    battery_powered: bool
    rated: float = field(default=0.0)
    """Type-specific size: a lamp's watts, a meter's mean kW or l/s."""
    limits: tuple[tuple[str, bool | None, float, float], ...] = ()
    """Per metric: (name, True float / False int / None other, minimum, maximum), for the hot clamping loop."""


class SignalModel:
    """Computes readings for the devices of one city and seed. Cheap to copy into worker processes.

    Daily and weekly rhythms follow the city's local time (``city.timezone``, daylight saving time included);
    daylight follows the sun at each device's position."""

    def __init__(self, city: City, seed: int) -> None:
        self.seed = seed
        self.clock = LocalClock(city.timezone)
        self._city_key = stable_key("city", seed, city.name)
        self._facilities = {facility.id: facility for facility in city.facilities}
        self._district_keys = {district.id: stable_key("district", seed, district.id) for district in city.districts}
        self._weather_cache: dict[tuple[str, int], Weather] = {}

    def context(self, device: Device) -> DeviceContext:
        facility = self._facilities[device.facility_id]
        key = stable_key("device", self.seed, device.id)
        capacity = facility.capacity or _DEFAULT_CAPACITY.get(facility.kind, 100)
        metrics = tuple(
            name
            for name in DEVICE_METRICS[device.type]
            if name != "battery" or device.network is NetworkClass.NARROWBAND
        )
        rated = {
            DeviceType.STREET_LIGHT: 60.0 + 90.0 * uniform(key + 7),
            DeviceType.ENERGY_METER: _BASE_POWER_KW[facility.kind] * (0.6 + 0.8 * uniform(key + 7)),
            DeviceType.WATER_METER: 0.2 + capacity / 400 * (0.5 + uniform(key + 7)),
        }.get(device.type, 0.0)
        return DeviceContext(
            device=device,
            facility_kind=facility.kind,
            capacity=capacity,
            key=key,
            district_key=self._district_keys[device.district_id],
            metrics=metrics,
            limits=tuple(_limits(name) for name in metrics),
            battery_powered=device.network is NetworkClass.NARROWBAND,
            rated=rated,
        )

    def weather(self, district_id: str, t_s: float) -> Weather:
        """The district's weather, cached per minute: every device of a district sees the same weather."""
        minute = int(t_s // 60)
        cache_key = (district_id, minute)
        found = self._weather_cache.get(cache_key)
        if found is None:
            if len(self._weather_cache) > 4096:
                self._weather_cache.clear()
            lt = self.clock.at(minute * 60.0)
            found = Weather(self._city_key, self._district_keys[district_id], minute * 60.0, lt)
            self._weather_cache[cache_key] = found
        return found

    def sample(self, ctx: DeviceContext, t_ms: int, controls: DeviceControls) -> dict[str, Value]:
        """All metrics of the device at ``t_ms``, rounded and inside the registry's ranges."""
        t_s = t_ms / 1000
        lt = self.clock.at(t_s)
        weather = self.weather(ctx.device.district_id, t_s)
        noise_key = ctx.key ^ (t_ms // 1000)
        values = _TYPE_MODELS[ctx.device.type](ctx, t_s, lt, weather, controls, noise_key)
        values["rssi"] = (-108.0 if ctx.battery_powered else -62.0) + 6.0 * gauss(noise_key + 91)
        values["report_interval"] = controls.report_interval_s
        if ctx.battery_powered:
            values["battery"] = battery_level(ctx.key, t_s, drain_per_day=0.02)
        # Inlined clamp (see :func:`clamp`): this loop runs for every value of every reading.
        out: dict[str, Value] = {}
        for name, is_float, low, high in ctx.limits:
            value = values.get(name)
            if value is None:
                continue
            if is_float is not None:
                number = round(value, 2) if is_float else round(value)  # type: ignore[arg-type]
                if number < low:
                    number = low if is_float else int(low)
                elif number > high:
                    number = high if is_float else int(high)
                value = float(number) if is_float else number
            out[name] = value
        return out


def battery_level(key: int, t_s: float, *, drain_per_day: float) -> float:
    """Battery charge: a per-device start level falling linearly (replaced every ~4 years)."""
    start = 55.0 + 45.0 * uniform(key + 3)
    return start - drain_per_day * ((t_s / drivers.DAY_S) % 1500)


def _limits(name: str) -> tuple[str, bool | None, float, float]:
    spec = METRICS[name]
    if spec.kind not in (MetricKind.FLOAT, MetricKind.INT):
        return (name, None, 0.0, 0.0)
    low = spec.minimum if spec.minimum is not None else -math.inf
    high = spec.maximum if spec.maximum is not None else math.inf
    return (name, spec.kind is MetricKind.FLOAT, low, high)


_LIMITS = {
    name: (spec.kind, spec.minimum, spec.maximum)
    for name, spec in METRICS.items()
    if spec.kind in (MetricKind.FLOAT, MetricKind.INT)
}


def clamp(name: str, value: Value) -> Value:
    """Round a float to 2 decimals and keep any number inside its metric's registry range."""
    limits = _LIMITS.get(name)
    if limits is None or isinstance(value, bool | str):
        return value
    kind, low, high = limits
    number: float | int = round(value, 2) if kind is MetricKind.FLOAT else round(value)
    if low is not None and number < low:
        number = low if kind is MetricKind.FLOAT else int(low)
    elif high is not None and number > high:
        number = high if kind is MetricKind.FLOAT else int(high)
    return float(number) if kind is MetricKind.FLOAT else number


_Model = Callable[[DeviceContext, float, LocalTime, Weather, DeviceControls, int], dict[str, Value]]


def _air(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    traffic = drivers.traffic_intensity(lt)
    washout = 1.0 / (1.0 + 0.3 * w.rain_rate + 0.08 * w.wind_speed)
    no2 = (14.0 + 55.0 * traffic) * washout * (0.8 + 0.4 * uniform(ctx.district_key)) + 3.0 * gauss(k)
    pm25 = (6.0 + 14.0 * traffic + 0.4 * max(0.0, 5.0 - w.temperature)) * washout + 1.5 * gauss(k + 1)
    sun = max(0.0, drivers.solar_elevation_deg(t, ctx.device.location.lat, ctx.device.location.lon)) / 60
    o3 = 25.0 + 70.0 * sun * max(0.2, w.temperature / 25) - 0.4 * no2 + 4.0 * gauss(k + 2)
    return {"no2": no2, "pm25": pm25, "pm10": pm25 * 1.6 + 2.0 * gauss(k + 3), "o3": o3}


def _indoor(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    present = drivers.occupancy_share(ctx.facility_kind, lt, w.temperature)
    heating = 21.0 if 6 <= lt.hour < 22 else 18.5
    return {
        "co2": 420.0 + 1300.0 * present + 40.0 * gauss(k),
        "indoor_temperature": heating + 0.15 * max(0.0, w.temperature - 20) + 1.2 * present + 0.3 * gauss(k + 1),
        "indoor_humidity": 35.0 + 0.25 * (w.humidity - 60) + 8.0 * present + 2.0 * gauss(k + 2),
    }


def _noise(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    laeq = 38.0 + 30.0 * drivers.traffic_intensity(lt) + 0.6 * w.wind_speed + 2.0 * gauss(k)
    return {"laeq": laeq, "lamax": laeq + 9.0 + 6.0 * abs(gauss(k + 1))}


def _energy(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    mean = ctx.rated
    hours = t / 3600 - _HOURS_2020
    present = drivers.occupancy_share(ctx.facility_kind, lt, w.temperature)
    swing = 0.3 * math.cos(2 * math.pi * (lt.hour - 13) / 24)
    power = mean * (1 + swing) * (0.85 + 0.3 * present) + 0.02 * mean * gauss(k)
    energy = (
        1000.0 * uniform(ctx.key + 5)
        + mean * hours
        + 0.3 * mean * 24 / (2 * math.pi) * math.sin(2 * math.pi * (lt.hour - 13) / 24)
    )
    return {"power": power, "energy": energy}


def _water(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    present = drivers.occupancy_share(ctx.facility_kind, lt, w.temperature)
    hours = t / 3600 - _HOURS_2020
    flow = ctx.rated * (0.1 + 1.8 * present) * (1 + 0.1 * gauss(k))
    return {"water_flow": flow, "water_volume": 50.0 * uniform(ctx.key + 5) + ctx.rated * 3.6 * hours}


def _occupancy(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    present = drivers.occupancy_share(ctx.facility_kind, lt, w.temperature)
    return {"occupancy": max(0.0, ctx.capacity * present * (1 + 0.05 * gauss(k)))}


def _parking(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    share = drivers.occupancy_share(FacilityKind.CAR_PARK, lt, w.temperature)
    slot = int(t // 900)  # a bay keeps its state for a quarter hour
    return {"occupied": uniform(ctx.key ^ slot) < share}


def _light(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    elevation = drivers.solar_elevation_deg(t, ctx.device.location.lat, ctx.device.location.lon)
    on = elevation < -0.8  # lights switch at sunset and off at sunrise
    level = (c.dim_level if c.dim_level is not None else 100) if on else 0
    power = ctx.rated * level / 100 * (1 + 0.01 * gauss(k)) if on else 0.0
    return {"lamp_on": on and level > 0, "dim_level": level, "lamp_power": power}


def _traffic(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    intensity = drivers.traffic_intensity(lt)
    per_hour = 1400.0 * intensity * (0.7 + 0.6 * uniform(ctx.key + 9))
    count = per_hour * c.report_interval_s / 3600 * (1 + 0.1 * gauss(k))
    speed = 48.0 - 22.0 * intensity**2 - 1.5 * min(w.rain_rate, 4.0) + 3.0 * gauss(k + 1)
    return {"vehicle_count": max(0.0, count), "vehicle_speed": speed}


def _weather(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    return {
        "temperature": w.temperature + 0.2 * gauss(k),
        "humidity": w.humidity + gauss(k + 1),
        "wind_speed": w.wind_speed * (1 + 0.15 * gauss(k + 2)),
        "rain_rate": w.rain_rate,
        "pressure": w.pressure + 0.3 * gauss(k + 3),
    }


def _flood(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    return {"water_level": 80.0 + 40.0 * uniform(ctx.key + 4) + 12.0 * w.rain_rate + 0.5 * gauss(k)}


def _waste(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    period = drivers.WEEK_S / (2 + int(uniform(ctx.key + 6) * 3))  # emptied 2-4 times a week
    phase = ((t + uniform(ctx.key + 8) * period) % period) / period
    return {"fill_level": 100.0 * phase**0.9 + 1.5 * gauss(k)}


def _display(ctx: DeviceContext, t: float, lt: LocalTime, w: Weather, c: DeviceControls, k: int) -> dict[str, Value]:
    elevation = drivers.solar_elevation_deg(t, ctx.device.location.lat, ctx.device.location.lon)
    return {"message": c.message, "brightness": 35 + 65 * max(0.0, min(1.0, (elevation + 6) / 30))}


_TYPE_MODELS: dict[DeviceType, _Model] = {
    DeviceType.AIR_QUALITY: _air,
    DeviceType.INDOOR_CLIMATE: _indoor,
    DeviceType.NOISE: _noise,
    DeviceType.ENERGY_METER: _energy,
    DeviceType.WATER_METER: _water,
    DeviceType.OCCUPANCY: _occupancy,
    DeviceType.PARKING_BAY: _parking,
    DeviceType.STREET_LIGHT: _light,
    DeviceType.TRAFFIC_COUNTER: _traffic,
    DeviceType.WEATHER: _weather,
    DeviceType.FLOOD_LEVEL: _flood,
    DeviceType.WASTE_BIN: _waste,
    DeviceType.INFO_DISPLAY: _display,
}
