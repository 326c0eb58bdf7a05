"""Indicator values computed straight from the raw readings of :mod:`tests.support.indicator_support`, independently
of the roll-ups and of :mod:`services.api.indicators`: plain Python over (device, time, value) lists, one function
per kind of indicator, each following the definition's formula text."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from smartcity.city.model import City
from smartcity.contract.metrics import DEVICE_METRICS
from smartcity.rollups import LocalDays
from tests.support.indicator_support import Series

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Want:
    value: float | None
    windows: int
    devices: int
    facilities: int | None = None
    at_ms: int | None = None


class Expected:
    """Expected answers for one city, one day of readings and one period ``[start, end)``."""

    def __init__(self, city: City, data: Series, start_ms: int, end_ms: int) -> None:
        self.city, self.start, self.end = city, start_ms, end_ms
        self.facilities = {f.id: f for f in city.facilities}
        self.devices = {d.id: d for d in city.devices}
        self.data = {
            device: [(ts, values) for ts, values in points if start_ms <= ts < end_ms]
            for device, points in data.items()
        }
        self.days = LocalDays(city.timezone)
        self.zone = ZoneInfo(city.timezone)

    def group(self, device: str, by: str) -> str:
        found = self.devices[device]
        return found.district_id if by == "district" else self.facilities[found.facility_id].kind.value

    def members(self, metrics: tuple[str, ...], kinds: tuple[str, ...], by: str) -> dict[str, list[str]]:
        """Devices of the types that report ``metrics`` at facilities of ``kinds``, per group."""
        out: dict[str, list[str]] = defaultdict(list)
        for device in self.city.devices:
            reports = any(m in DEVICE_METRICS[device.type] for m in metrics) or not metrics
            if reports and self.facilities[device.facility_id].kind.value in kinds:
                out[self.group(device.id, by)].append(device.id)
        return dict(out)

    def values(self, device: str, metric: str) -> list[tuple[int, float]]:
        return [(ts, float(v[metric])) for ts, v in self.data.get(device, []) if metric in v]

    def hours_of(self, device: str, metric: str | None = None) -> set[int]:
        return {ts // HOUR_MS * HOUR_MS for ts, v in self.data.get(device, []) if metric is None or metric in v}

    # -- the formulas ----------------------------------------------------------------------------------------------
    def windows_above(
        self, groups: dict[str, list[str]], metric: str, threshold: float, *, days: bool = False, night: bool = False
    ) -> dict[str, Want]:
        window_of: Callable[[int], int] = self.days.start_of if days else (lambda ts: ts // HOUR_MS * HOUR_MS)
        out = {}
        for group, devices in groups.items():
            windows: dict[int, list[float]] = defaultdict(list)
            for device in devices:
                for ts, value in self.values(device, metric):
                    windows[window_of(ts)].append(value)
            if night:
                windows = {w: v for w, v in windows.items() if self._night(w)}
            means = [sum(v) / len(v) for v in windows.values()]
            used = sum(1 for d in devices if self.values(d, metric))
            out[group] = Want(float(sum(m > threshold for m in means)) if means else None, len(means), used)
        return out

    def _night(self, hour_ms: int) -> bool:
        local = datetime.fromtimestamp(hour_ms / 1000, UTC).astimezone(self.zone).hour
        return local >= 23 or local < 7

    def _device_windows(self, devices: list[str], metric: str) -> tuple[int, int]:
        hours = [len(self.hours_of(d, metric)) for d in devices]
        return sum(hours), sum(1 for h in hours if h)

    def mean(self, groups: dict[str, list[str]], metric: str) -> dict[str, Want]:
        out = {}
        for group, devices in groups.items():
            values = [v for d in devices for _ts, v in self.values(d, metric)]
            windows, used = self._device_windows(devices, metric)
            out[group] = Want(sum(values) / len(values) if values else None, windows, used)
        return out

    def _by_facility(self, devices: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for device in devices:
            out[self.devices[device].facility_id].append(device)
        return out

    def per_capacity(self, groups: dict[str, list[str]], metric: str) -> dict[str, Want]:
        out = {}
        for group, devices in groups.items():
            means, seats = [], 0
            for facility, counters in self._by_facility(devices).items():
                values = [v for d in counters for _ts, v in self.values(d, metric)]
                capacity = self.facilities[facility].capacity
                if values and capacity:
                    means.append(sum(values) / len(values))
                    seats += capacity
            windows, used = self._device_windows(devices, metric)
            out[group] = Want(100 * sum(means) / seats if seats else None, windows, used, len(means))
        return out

    def peak_per_capacity(self, groups: dict[str, list[str]], metric: str) -> dict[str, Want]:
        out = {}
        for group, devices in groups.items():
            hours: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
            seen = set()
            for facility, counters in self._by_facility(devices).items():
                capacity = self.facilities[facility].capacity
                by_hour: dict[int, list[float]] = defaultdict(list)
                for device in counters:
                    for ts, value in self.values(device, metric):
                        by_hour[ts // HOUR_MS * HOUR_MS].append(value)
                for start, values in by_hour.items():
                    if capacity:
                        hours[start][0] += sum(values) / len(values)
                        hours[start][1] += capacity
                        seen.add(facility)
            windows, used = self._device_windows(devices, metric)
            if not hours:
                out[group] = Want(None, windows, used, 0)
                continue
            peak = max(100 * p / s for p, s in hours.values())
            at = min(start for start, (p, s) in hours.items() if 100 * p / s == peak)
            out[group] = Want(peak, windows, used, len(seen), at)
        return out

    def increase(self, device: str, metric: str) -> float:
        """Consumption counted at the later reading of each pair; a drop is a reset that counts the new value."""
        points = self.values(device, metric)
        return sum(b - a if b >= a else b for (_t, a), (_u, b) in itertools.pairwise(points))

    def per_floor_area(self, groups: dict[str, list[str]], metric: str) -> dict[str, Want]:
        out = {}
        for group, devices in groups.items():
            used_kwh, floor, facilities = 0.0, 0.0, 0
            for facility, meters in self._by_facility(devices).items():
                area = self.facilities[facility].floor_area_m2
                if area and any(self.values(m, metric) for m in meters):
                    used_kwh += sum(self.increase(m, metric) for m in meters)
                    floor += area
                    facilities += 1
            windows, used = self._device_windows(devices, metric)
            out[group] = Want(used_kwh / floor if floor else None, windows, used, facilities)
        return out

    def lights_working(self, groups: dict[str, list[str]]) -> dict[str, Want]:
        out = {}
        for group, lights in groups.items():
            working = 0
            for light in lights:
                by_hour: dict[int, list[tuple[float, float]]] = defaultdict(list)
                for ts, values in self.data.get(light, []):
                    by_hour[ts // HOUR_MS * HOUR_MS].append((float(values["dim_level"]), float(values["lamp_power"])))
                dark = any(min(d for d, _p in r) > 0 and max(p for _d, p in r) == 0 for r in by_hour.values())
                working += bool(by_hour) and not dark
            windows = sum(len(self.hours_of(light, "dim_level")) for light in lights)
            out[group] = Want(100 * working / len(lights), windows, len(lights))
        return out

    def expected_share(self, groups: dict[str, list[str]], *, readings: bool) -> dict[str, Want]:
        span = self.end - self.start
        out = {}
        for group, devices in groups.items():
            got = promised = 0.0
            for device in devices:
                interval = self.devices[device].report_interval_s * 1000
                if readings:
                    expected, observed = span / interval, len(self.data.get(device, []))
                else:
                    expected, observed = span / HOUR_MS * min(1.0, HOUR_MS / interval), len(self.hours_of(device))
                got += min(observed, expected)
                promised += expected
            windows = sum(len(self.hours_of(d)) for d in devices)
            out[group] = Want(100 * got / promised, windows, len(devices))
        return out
