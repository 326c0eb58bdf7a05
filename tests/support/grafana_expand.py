"""Grafana's expansion of an InfluxQL panel query, reimplemented from Grafana's source so that a test can run the
query InfluxDB would receive. The rules, and where Grafana keeps them:

- **Variable value.** ``public/app/features/templating/template_srv.ts`` (``replace``): ``$var``, ``${var}`` and
  ``[[var]]`` name a variable; when "All" is selected (value ``$__all``) the value becomes every option's value
  (``getAllValue``), unless the variable has a custom all value, which is inserted unformatted. Our variables have
  none.
- **InfluxQL formatting.** ``public/app/plugins/datasource/influxdb/datasource.ts`` (``interpolateQueryExpr``, the
  format function of InfluxQL queries) and its tests in ``datasource.test.ts``: a variable that is neither multi
  nor include-all is inserted as it is, with regex metacharacters escaped when it stands inside a ``/.../``
  regex literal; a multi or include-all variable has each value regex-escaped, one value standing alone and
  several joined as ``(a|b|c)`` (so "All" is ``(v1|v2|...)`` too).
- **Time filter.** ``pkg/tsdb/influxdb/influxql/models/query.go`` (``Build``, ``renderTimeFilter``): ``$timeFilter``
  becomes ``time >= <from>ms and time <= <to>ms`` of the panel's range, ``$__interval`` and ``$interval`` the
  interval formatted by ``gtime.FormatInterval`` (``1h``, ``30m``, ``1d``), ``$__interval_ms`` its milliseconds.
- **Interval.** grafana-plugin-sdk-go ``backend/gtime/gtime.go`` (``RoundInterval``, ``FormatInterval``) and the
  frontend's ``rangeutil.calculateInterval``: range / max data points, rounded to a "nice" step, never below the
  panel's minimum interval (or the datasource's ``timeInterval``).

A panel's relative time (``timeFrom``: ``24h``, ``15m``, ``now/d``) replaces the dashboard's range.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SECOND, MINUTE, HOUR, DAY = 1_000, 60_000, 3_600_000, 86_400_000
_ROUND_STEPS: tuple[tuple[int, int], ...] = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, SECOND),
    (3_500, 2 * SECOND),
    (7_500, 5 * SECOND),
    (12_500, 10 * SECOND),
    (17_500, 15 * SECOND),
    (25_000, 20 * SECOND),
    (45_000, 30 * SECOND),
    (90_000, MINUTE),
    (210_000, 2 * MINUTE),
    (450_000, 5 * MINUTE),
    (750_000, 10 * MINUTE),
    (1_050_000, 15 * MINUTE),
    (1_500_000, 20 * MINUTE),
    (2_700_000, 30 * MINUTE),
    (5_400_000, HOUR),
    (9_000_000, 2 * HOUR),
    (16_200_000, 3 * HOUR),
    (32_400_000, 6 * HOUR),
    (86_400_000, 12 * HOUR),
    (172_800_000, DAY),
    (604_800_000, DAY),
    (1_814_400_000, 7 * DAY),
)
"""gtime.RoundInterval: (interval up to, in ms) -> step in ms; 30 days below 6 weeks, else a year."""
_UNITS = {"ms": 1, "s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+)\]\]|\$\{(\w+)\}")
_REGEX_META = re.compile(r"[\\/$^*+?.()|{}\[\]']")


def round_interval(ms: int) -> int:
    for limit, step in _ROUND_STEPS:
        if ms <= limit:
            return step
    return 30 * DAY if ms < 3_628_800_000 else 365 * DAY


def format_interval(ms: int) -> str:
    """gtime.FormatInterval: the largest whole unit (``1d``, ``3h``, ``30m``, ``20s``, ``500ms``)."""
    for suffix, size in (("y", 365 * DAY), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND)):
        if ms >= size:
            return f"{ms // size}{suffix}"
    return f"{max(ms, 1)}ms"


def duration_ms(text: str) -> int:
    """``15m`` -> 900000 (Grafana's duration units up to weeks)."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Selection:
    """The values a variable is set to, and how the variable is defined."""

    values: tuple[str, ...]
    multi: bool
    include_all: bool


def regex_escape(value: str) -> str:
    return _REGEX_META.sub(lambda m: "\\" + m.group(0), value)


def format_value(selection: Selection, *, in_regex: bool) -> str:
    """interpolateQueryExpr for one occurrence of the variable."""
    if not selection.multi and not selection.include_all:
        (value,) = selection.values
        return regex_escape(value) if in_regex else value
    escaped = [regex_escape(value) for value in selection.values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _inside_regex(query: str, position: int) -> bool:
    """True when ``position`` lies inside a ``/.../`` literal (an odd number of unescaped ``/`` before it,
    outside quotes)."""
    slashes, quote = 0, ""
    for index, char in enumerate(query[:position]):
        if quote:
            quote = "" if char == quote and query[index - 1] != "\\" else quote
        elif char in "'\"" and not slashes % 2:
            quote = char
        elif char == "/" and (index == 0 or query[index - 1] != "\\"):
            slashes += 1
    return slashes % 2 == 1


def panel_range(now_ms: int, dashboard_from: str, time_from: str | None, timezone: str) -> tuple[int, int]:
    """[from, to] in ms: the panel's relative time when it has one (``now/d`` is today so far in the dashboard's
    time zone), else the dashboard's ``now-<duration>``."""
    if time_from == "now/d":
        local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo(timezone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return int(midnight.timestamp() * 1000), now_ms
    if time_from:
        return now_ms - duration_ms(time_from), now_ms
    return now_ms - duration_ms(dashboard_from.removeprefix("now-")), now_ms


def interval_ms(span_ms: int, max_data_points: int, min_interval: str | None) -> int:
    calculated = round_interval(span_ms // max_data_points)
    return max(calculated, duration_ms(min_interval)) if min_interval else calculated


def expand(query: str, selections: Mapping[str, Selection], *, start_ms: int, end_ms: int, interval: int) -> str:
    """The statement InfluxDB receives for ``query``."""

    def variable(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in selections:
            return match.group(0)
        return format_value(selections[name], in_regex=_inside_regex(query, match.start()))

    text = _VARIABLE.sub(variable, query)
    text = text.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    text = text.replace("$__interval_ms", str(interval)).replace("$__interval", format_interval(interval))
    return text.replace("$interval", format_interval(interval))


def referenced(query: str) -> Sequence[str]:
    """Names of the variables a query uses (built-ins such as ``$timeFilter`` and ``$__interval`` excluded)."""
    names = [next(group for group in m.groups() if group) for m in _VARIABLE.finditer(query)]
    return [name for name in dict.fromkeys(names) if name != "timeFilter" and not name.startswith("__")]
