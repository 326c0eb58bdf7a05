"""The time windows of a release: periods and windows on the city's local clock, as ``[start, end)`` UTC ms.

A period (a local day, a Monday-to-Sunday week or a calendar month) starts at local midnight. Windows of n hours
start where the local clock shows a multiple of n hours, so a window holding a daylight saving change lasts n - 1
or n + 1 hours; one-hour windows are the clock's real hours (23 or 25 on such a day, the repeated autumn hour
being its own window).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.opendata.privacy.policy import Span

Window = tuple[int, int]
"""``[start_ms, end_ms)``."""

_QUARTER_MS = 900_000
"""Every UTC offset in use is a whole number of quarter hours, so clock boundaries fall on UTC quarters."""


def _midnight_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def _local(ts_ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(zone)


def _period_first_day(period: Span, day: date) -> date:
    if period is Span.DAY:
        return day
    if period is Span.WEEK:
        return day - timedelta(days=day.weekday())
    if period is Span.MONTH:
        return day.replace(day=1)
    raise ValueError(f"{period.value} is not a release period")


def _next_first_day(period: Span, first: date) -> date:
    if period is Span.DAY:
        return first + timedelta(days=1)
    if period is Span.WEEK:
        return first + timedelta(days=7)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def period_of(period: Span, timezone: str, ts_ms: int) -> Window:
    """The period (local day, week or month) that holds ``ts_ms``."""
    zone = ZoneInfo(timezone)
    first = _period_first_day(period, _local(ts_ms, zone).date())
    return _midnight_ms(first, zone), _midnight_ms(_next_first_day(period, first), zone)


def aligned_period(period: Span, timezone: str, start_ms: int) -> Window:
    """The period that starts at ``start_ms``; a start that is not a period's first instant raises ValueError."""
    found = period_of(period, timezone, start_ms)
    if found[0] != start_ms:
        start = _local(start_ms, ZoneInfo(timezone)).isoformat()
        raise ValueError(f"a {period.value} release starts at local midnight of its first day, not at {start}")
    return found


def windows(span: Span, timezone: str, bounds: Window) -> list[Window]:
    """The windows of ``span`` that tile ``bounds`` (an aligned period or a window of a longer span)."""
    start, end = bounds
    zone = ZoneInfo(timezone)
    hours = span.hours
    cuts: list[int] = []
    if hours is None:
        day = _local(start, zone).date()
        cut = start
        while cut < end:
            cuts.append(cut)
            first = _period_first_day(span, day)
            day = _next_first_day(span, first)
            cut = _midnight_ms(day, zone)
    else:
        for ts in range(start, end, _QUARTER_MS):
            local = _local(ts, zone)
            on_cut = local.minute == 0 and local.hour % hours == 0 and (hours == 1 or local.fold == 0)
            if on_cut or ts == start:
                cuts.append(ts)
    return list(zip(cuts, [*cuts[1:], end], strict=True))


def label(window: Window, timezone: str) -> str:
    """The window as local ISO 8601 start/end (``2025-03-12T08:00:00+01:00/2025-03-12T09:00:00+01:00``)."""
    zone = ZoneInfo(timezone)
    return f"{_local(window[0], zone).isoformat()}/{_local(window[1], zone).isoformat()}"
