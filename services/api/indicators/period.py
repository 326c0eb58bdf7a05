"""The period an indicator is computed over: the limits a request must keep, and the whole roll-up windows that
answer it.

An indicator from roll-ups counts whole windows only: the requested ``[start, end)`` is narrowed to the hours (or
local days) that lie wholly inside it and that the roll-up worker has completed, and the answer says which span
that was. InfluxDB 1.x groups ``GROUP BY time(...)`` in UTC unless ``tz()`` is given; hours are UTC hours either
way (every zone in use is a whole number of minutes from UTC), and what depends on local time (night hours) is
decided here in Python from each hour's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.api.indicators.definitions import NIGHT_HOURS, Source
from services.api.problems import ApiProblem, InvalidParam, invalid
from services.api.schemas import iso
from smartcity.rollups import DAY, DAY_MS, HOUR, HOUR_MS, LocalDays, Tier, window_ceil, window_floor

MAX_DAYS = {Source.HOURS: 93, Source.DAYS: 732, Source.DEVICE_HEALTH: 732}
"""The longest period per source: about three months of hourly roll-ups (2,232 hours per device), two years of
daily ones."""
EARLIEST_MS = 0
LATEST_MS = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp() * 1000)
TIERS: dict[Source, Tier] = {Source.HOURS: HOUR, Source.DAYS: DAY}


@dataclass(frozen=True, slots=True)
class Period:
    """A request's period and the span the answer covers."""

    requested: tuple[int, int]
    """``[start, end)`` as asked (ms)."""
    start_ms: int
    end_ms: int
    """The whole, completed windows inside it (equal when there are none yet)."""
    rolled_up_to: int | None = None
    """Where the tier's roll-ups were complete up to when the answer was computed (None: none yet, or not a
    roll-up source)."""

    @property
    def hours(self) -> float:
        return (self.end_ms - self.start_ms) / HOUR_MS


def check_period(start_ms: int, end_ms: int, source: Source) -> None:
    """422 for a period outside 1970..2200, one that ends before it starts, or one longer than the source's
    limit (:data:`MAX_DAYS`, named in the answer)."""
    for name, moment in (("query.start", start_ms), ("query.end", end_ms)):
        if not EARLIEST_MS <= moment < LATEST_MS:
            raise invalid(name, "must lie between 1970-01-01 and 2200-01-01")
    if start_ms >= end_ms:
        raise invalid("query.start", f"must be before end ({iso(end_ms)})")
    limit = MAX_DAYS[source]
    if end_ms - start_ms > limit * DAY_MS:
        reason = (
            f"the period is {(end_ms - start_ms) / DAY_MS:.1f} days long, more than the limit of {limit} days for "
            f"indicators from {source.value}: shorten start..end"
        )
        raise ApiProblem(
            422, "period-too-long", reason, invalid_params=[InvalidParam(name="query.start", reason=reason)]
        )


def whole_windows(start_ms: int, end_ms: int, source: Source, days: LocalDays, completed: int | None) -> Period:
    """The whole ``source`` windows in ``[start, end)`` that end by ``completed`` (the tier's roll-up progress).
    ``device_health`` is not windowed: its period is the one asked."""
    tier = TIERS.get(source)
    if tier is None:
        return Period((start_ms, end_ms), start_ms, end_ms)
    low = window_ceil(start_ms, tier, days)
    high = window_floor(end_ms, tier, days)
    high = min(high, window_floor(completed, tier, days)) if completed is not None else low
    return Period((start_ms, end_ms), low, max(low, high), completed)


def is_night(hour_ms: int, zone: ZoneInfo) -> bool:
    """True when the hour starting at ``hour_ms`` starts at night (:data:`NIGHT_HOURS`) in ``zone``."""
    local = datetime.fromtimestamp(hour_ms / 1000, UTC).astimezone(zone).hour
    begins, ends = NIGHT_HOURS
    return local >= begins or local < ends
