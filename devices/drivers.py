"""Shared drivers of a city's signals: weather and traffic per district, daylight, occupancy rhythms.

Every function is pure: (seed, district or device key, time) -> value. Noise comes from a keyed integer hash
(splitmix64), not from a random generator with state, so any reading can be recomputed from its timestamp and
the same seed and start time always give the same readings. Devices in one district share that district's
weather and traffic (their readings correlate); districts share the city-wide weather system.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from zoneinfo import ZoneInfo

from smartcity.city.model import FacilityKind

_MASK = (1 << 64) - 1
_TWO_PI = 2 * math.pi
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S


def stable_key(*parts: object) -> int:
    """A 64-bit key from any parts (blake2b): stable across processes and Python versions."""
    text = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def mix(x: int) -> int:
    """splitmix64 finaliser: a well-spread 64-bit hash of an integer."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def uniform(key: int) -> float:
    """Deterministic uniform number in [0, 1)."""
    return mix(key & _MASK) / 18446744073709551616.0


def gauss(key: int) -> float:
    """Deterministic, roughly standard-normal number: three 21-bit uniforms from one hash, summed and scaled to
    unit variance (one hash instead of three: this runs for every value of every reading)."""
    x = mix(key & _MASK)
    total = (x & 0x1FFFFF) + ((x >> 21) & 0x1FFFFF) + ((x >> 42) & 0x1FFFFF)
    return (total / 2097152.0 - 1.5) * 2.0


def smooth(key: int, t_s: float, periods_s: tuple[float, ...]) -> float:
    """A smooth pseudo-random process in about [-1, 1]: sinusoids with keyed phases (weather fronts, trends)."""
    total = 0.0
    for index, period in enumerate(periods_s):
        phase = uniform(key + index) * _TWO_PI
        total += math.sin(_TWO_PI * t_s / period + phase)
    return total / len(periods_s)


class LocalTime:
    """Local hour of day, weekday and day of year of an epoch time, at a given UTC offset."""

    __slots__ = ("day_of_year", "hour", "weekday")

    def __init__(self, t_s: float, utc_offset_s: float) -> None:
        local = t_s + utc_offset_s
        days = local / DAY_S
        self.hour = (local % DAY_S) / 3600
        self.weekday = (int(days) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        self.day_of_year = days % 365.2425

    @property
    def weekend(self) -> bool:
        return self.weekday >= 5


_OFFSET_SLOT_S = 900
"""UTC offsets are looked up once per quarter hour (this runs for every reading)."""


class LocalClock:
    """The city's local time from its IANA time zone, daylight saving time included.

    The offset of a quarter hour is cached when it holds from the quarter's first second to its last; a quarter
    with a transition inside it is looked up at each instant, so the result is exact either way.
    """

    __slots__ = ("_offsets", "zone")

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self._offsets: dict[int, float] = {}

    def utc_offset_s(self, t_s: float) -> float:
        """Seconds to add to UTC for local time at ``t_s``."""
        slot = int(t_s // _OFFSET_SLOT_S)
        found = self._offsets.get(slot)
        if found is None:
            found = self._exact(slot * _OFFSET_SLOT_S)
            if found != self._exact(slot * _OFFSET_SLOT_S + _OFFSET_SLOT_S - 1):
                return self._exact(t_s)
            if len(self._offsets) > 4096:
                self._offsets.clear()
            self._offsets[slot] = found
        return found

    def at(self, t_s: float) -> LocalTime:
        return LocalTime(t_s, self.utc_offset_s(t_s))

    def _exact(self, t_s: float) -> float:
        offset = datetime.fromtimestamp(t_s, self.zone).utcoffset()
        return offset.total_seconds() if offset is not None else 0.0


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


def traffic_intensity(lt: LocalTime) -> float:
    """0..1: weekday rush hours at 8:00 and 17:30, a broad weekend midday, quiet nights."""
    h = lt.hour
    if lt.weekend:
        return 0.08 + 0.45 * _bump(h, 13.5, 4.0)
    return 0.06 + 0.85 * _bump(h, 8.0, 1.2) + 0.9 * _bump(h, 17.5, 1.6) + 0.45 * _bump(h, 12.5, 3.5)


def solar_elevation_deg(t_s: float, lat_deg: float, lon_deg: float) -> float:
    """Approximate solar elevation (declination by day of year, hour angle by UTC + longitude)."""
    days = t_s / DAY_S
    declination = -23.44 * math.cos(_TWO_PI * ((days % 365.2425) + 10) / 365.2425)
    solar_hour = ((t_s % DAY_S) / 3600 + lon_deg / 15.0) % 24
    hour_angle = math.radians(15.0 * (solar_hour - 12))
    lat, dec = math.radians(lat_deg), math.radians(declination)
    sin_el = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_el))))


class Weather:
    """One district's weather at one instant, from the city-wide system plus a small local offset."""

    __slots__ = ("humidity", "pressure", "rain_rate", "temperature", "wind_speed")

    def __init__(self, city_key: int, district_key: int, t_s: float, lt: LocalTime) -> None:
        season = -math.cos(_TWO_PI * (lt.day_of_year - 15) / 365.2425)  # -1 mid-January, +1 mid-July
        front = smooth(city_key, t_s, (3.1 * DAY_S, 5.7 * DAY_S, 11.3 * DAY_S))
        local = smooth(district_key, t_s, (0.7 * DAY_S, 2.3 * DAY_S))
        diurnal = math.sin(_TWO_PI * (lt.hour - 9) / 24)
        wetness = smooth(city_key + 101, t_s, (0.9 * DAY_S, 2.6 * DAY_S, 4.4 * DAY_S)) + 0.15 * local
        self.rain_rate = max(0.0, wetness - 0.35) * 9.0
        self.temperature = (
            10.0 + 9.0 * season + 4.0 * diurnal + 4.5 * front + 0.8 * local - 1.5 * min(self.rain_rate, 3.0)
        )
        self.humidity = min(100.0, max(15.0, 72.0 - 2.2 * (self.temperature - 10.0) + 8.0 * self.rain_rate))
        self.pressure = 1013.0 + 14.0 * smooth(city_key + 202, t_s, (4.3 * DAY_S, 9.1 * DAY_S)) - 4.0 * wetness
        self.wind_speed = max(0.0, 3.5 + 2.5 * front + 1.5 * wetness + 0.8 * local)


def occupancy_share(kind: FacilityKind, lt: LocalTime, temperature: float) -> float:
    """Share of a facility's capacity present at this local time (the daily and weekly rhythm per kind)."""
    h = lt.hour
    if kind is FacilityKind.SCHOOL:
        if lt.weekend:
            return 0.0
        return 0.92 * (1 if 7.75 <= h < 15.5 else 0) * (0.75 if 12.0 <= h < 13.0 else 1.0) + (
            0.05 if 15.5 <= h < 17.5 else 0.0
        )
    if kind is FacilityKind.HOSPITAL:
        return 0.82 + 0.08 * _bump(h, 14.0, 4.0)
    if kind is FacilityKind.NURSING_HOME:
        return 0.94
    if kind is FacilityKind.LIBRARY:
        open_hours = 10 <= h < (16 if lt.weekday == 5 else 19) and lt.weekday != 6
        return (0.15 + 0.35 * _bump(h, 15.5, 2.5)) if open_hours else 0.0
    if kind is FacilityKind.PUBLIC_BUILDING:
        return (0.1 + 0.6 * _bump(h, 11.0, 3.0)) if not lt.weekend and 7.5 <= h < 18 else 0.02
    if kind is FacilityKind.CAR_PARK:
        base = 0.12 + (0.7 * _bump(h, 12.0, 4.5) if not lt.weekend else 0.55 * _bump(h, 14.0, 3.5))
        return min(1.0, base)
    if kind is FacilityKind.PARK:
        pleasant = max(0.0, min(1.0, (temperature - 5.0) / 20.0))
        return (0.05 + (0.5 if lt.weekend else 0.25) * _bump(h, 15.0, 3.5)) * (0.3 + 0.7 * pleasant)
    return traffic_intensity(lt)  # street segments: people follow traffic
