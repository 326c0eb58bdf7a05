"""Window boundaries: UTC minutes and hours, and local days of the city's time zone (23, 24 or 25 hours long).

A day is stamped with the UTC instant of its local midnight. Where a time zone's midnight is not on a UTC hour
(India, Nepal, parts of Australia) a day is combined from minute roll-ups instead of hour roll-ups.
"""

from __future__ import annotations

from smartcity.rollups import HOUR, HOUR_MS, MINUTE, MINUTE_MS, LocalDays, Tier

__all__ = ["LocalDays", "day_source", "hour_of", "minute_of"]


def minute_of(ts_ms: int) -> int:
    return ts_ms // MINUTE_MS * MINUTE_MS


def hour_of(ts_ms: int) -> int:
    return ts_ms // HOUR_MS * HOUR_MS


def day_source(start_ms: int, end_ms: int) -> Tier:
    """The tier a day is combined from: hours when its bounds are whole UTC hours, else minutes."""
    return HOUR if start_ms % HOUR_MS == 0 and end_ms % HOUR_MS == 0 else MINUTE
