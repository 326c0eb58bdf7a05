"""Cheap deterministic signals for the API benchmark's data set: what each device of a generated city reads at an
instant, and when it reads.

The simulator's signal model (``devices.signals``) costs about 12 us per reading; the benchmark needs tens of
millions of readings, so this is a smaller model of the same shape: each metric has a mean, a daily swing (local
time of the city at the anchor, no daylight saving switch inside the data set), keyed noise and the registry's
range. Meter registers (energy, water volume) grow at a per-device rate and never reset; street lights are on at
night and one in fifty draws no power while it is on (a dark lamp for ``street_lights_working``). Values are
rounded to two decimals like the simulator's. The same device and instant always give the same values.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from smartcity.city.model import City, Device, DeviceType, NetworkClass
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricKind, Temporality
from smartcity.contract.reading import Reading, Value

HOUR_MS = 3_600_000
VITALS = frozenset({"battery", "rssi", "report_interval"})
_MASK = (1 << 64) - 1
_REGISTER_EPOCH_H = 1_577_836_800 / 3600  # registers count from 2020-01-01
_TAU = 2 * math.pi

_GAUGES: dict[str, tuple[float, float, float]] = {
    # metric: (mean, daily swing, noise), peaking mid-afternoon
    "no2": (22.0, 14.0, 5.0),
    "pm25": (12.0, 7.0, 3.0),
    "pm10": (20.0, 10.0, 4.0),
    "o3": (50.0, 25.0, 5.0),
    "co2": (700.0, 350.0, 60.0),
    "indoor_temperature": (21.0, 1.5, 0.3),
    "indoor_humidity": (45.0, 8.0, 2.0),
    "laeq": (50.0, 12.0, 2.0),
    "lamax": (62.0, 12.0, 3.0),
    "power": (60.0, 20.0, 3.0),
    "water_flow": (1.0, 0.6, 0.1),
    "vehicle_count": (20.0, 15.0, 3.0),
    "vehicle_speed": (40.0, -10.0, 3.0),
    "temperature": (10.0, 5.0, 0.5),
    "humidity": (70.0, -15.0, 2.0),
    "wind_speed": (4.0, 2.0, 1.0),
    "rain_rate": (0.4, 0.3, 0.4),
    "pressure": (1013.0, 3.0, 1.0),
    "water_level": (100.0, 10.0, 1.0),
    "fill_level": (50.0, 30.0, 10.0),
    "brightness": (70.0, 30.0, 0.0),
    "battery": (80.0, 0.0, 0.1),
    "rssi": (-70.0, 0.0, 5.0),
}
_REGISTER_RATE = {"energy": 60.0, "water_volume": 3.6}
"""Mean growth per hour (kWh, m3)."""


def stable_key(*parts: object) -> int:
    """A 64-bit key that is the same on every run and Python version (no ``hash()`` randomisation)."""
    return int.from_bytes(hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def _unit(key: int, n: int) -> float:
    """Uniform in [0, 1), keyed."""
    return (((key ^ n) * 0x9E3779B97F4A7C15) & _MASK) / 18446744073709551616.0


@dataclass(frozen=True, slots=True)
class DeviceSignal:
    """One device's signal parameters, computed once."""

    device: Device
    key: int
    metrics: tuple[str, ...]
    """The device type's metrics without the vitals."""
    vitals: tuple[str, ...]
    capacity: float
    rate: float
    """Register growth per hour (meters), or a lamp's watts."""
    dark: bool
    """A street light that draws no power while on."""


class CitySignals:
    """Readings of every device of ``city``; ``offset_h`` is the city's UTC offset at the data set's anchor."""

    def __init__(self, city: City, seed: int, anchor_ms: int) -> None:
        self.seed = seed
        zone = ZoneInfo(city.timezone)
        offset = datetime.fromtimestamp(anchor_ms / 1000, UTC).astimezone(zone).utcoffset()
        self.offset_h = offset.total_seconds() / 3600 if offset is not None else 0.0
        self._capacity = {f.id: float(f.capacity or 100) for f in city.facilities}
        self._signals: dict[str, DeviceSignal] = {}

    def signal(self, device: Device) -> DeviceSignal:
        found = self._signals.get(device.id)
        if found is None:
            key = stable_key("api-bench", self.seed, device.id)
            names = DEVICE_METRICS[device.type]
            vitals = tuple(
                n for n in names if n in VITALS and (n != "battery" or device.network is NetworkClass.NARROWBAND)
            )
            register = next((n for n in names if METRICS[n].temporality is Temporality.REGISTER), "")
            rate = _REGISTER_RATE.get(register, 0.0)
            if device.type is DeviceType.STREET_LIGHT:
                rate = 60.0 + 90.0 * _unit(key, 7)
            found = DeviceSignal(
                device=device,
                key=key,
                metrics=tuple(n for n in names if n not in VITALS),
                vitals=vitals,
                capacity=self._capacity.get(device.facility_id, 100.0),
                rate=rate * (0.5 + _unit(key, 5)),
                dark=device.type is DeviceType.STREET_LIGHT and key % 50 == 0,
            )
            self._signals[device.id] = found
        return found

    def reading(self, signal: DeviceSignal, ts_ms: int, *, vitals: bool) -> Reading:
        """The device's reading at ``ts_ms``; with ``vitals`` it carries battery, rssi and report interval too."""
        key = signal.key
        second = ts_ms // 1000
        local_h = (ts_ms / HOUR_MS + self.offset_h) % 24
        daily = math.sin(_TAU * (local_h - 9) / 24)  # highest at 15:00 local, lowest at 03:00
        night = local_h >= 18 or local_h < 7
        values: dict[str, Value] = {}
        for index, name in enumerate(signal.metrics + signal.vitals if vitals else signal.metrics):
            values[name] = self._value(signal, name, ts_ms, daily, night, _unit(key, second * 64 + index))
        return Reading(signal.device.id, second // signal.device.report_interval_s, ts_ms, values)

    def _value(self, signal: DeviceSignal, name: str, ts_ms: int, daily: float, night: bool, noise: float) -> Value:
        spec = METRICS[name]
        if spec.temporality is Temporality.REGISTER:
            hours = ts_ms / HOUR_MS - _REGISTER_EPOCH_H
            return round(1000.0 * _unit(signal.key, 3) + signal.rate * hours, 2)
        if name == "occupied":
            return noise < 0.45 + 0.35 * daily
        if name == "lamp_on":
            return night
        if name == "dim_level":
            return 100 if night else 0
        if name == "lamp_power":
            return round(signal.rate * (0.99 + 0.02 * noise), 2) if night and not signal.dark else 0.0
        if name == "message":
            return "Welcome"
        if name == "report_interval":
            return signal.device.report_interval_s
        if name == "occupancy":
            share = 0.45 + 0.35 * daily + 0.05 * (2 * noise - 1)
            return max(0, round(signal.capacity * share))
        mean, swing, spread = _GAUGES[name]
        value = mean + swing * daily + spread * (2 * noise - 1)
        low = float(spec.minimum) if spec.minimum is not None else -math.inf
        high = float(spec.maximum) if spec.maximum is not None else math.inf
        value = min(high, max(low, value))
        return round(value) if spec.kind is MetricKind.INT else round(value, 2)


def reading_times(device: Device, key: int, *, sparse_from_ms: int, dense_from_ms: int, end_ms: int) -> list[int]:
    """When the device reads: once an hour in ``[sparse_from, dense_from)`` (at a per-device second of the hour),
    then every report interval in ``[dense_from, end)`` (at a per-device phase). Whole seconds, in order."""
    hourly_phase = key % 3600 * 1000
    times = [hour + hourly_phase for hour in range(sparse_from_ms, dense_from_ms, HOUR_MS)]
    interval_ms = device.report_interval_s * 1000
    times.extend(range(dense_from_ms + key % device.report_interval_s * 1000, end_ms, interval_ms))
    return times
