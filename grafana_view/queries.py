"""InfluxQL building blocks shared by the dashboards, and which tier a panel reads.

**Tiers by panel, not by variable.** A panel that follows the dashboard's time range reads the hourly roll-ups
(``"rp_1h"."<measurement>"``, means as ``sum(<m>_sum) / sum(<m>_count)``) with a minimum interval of one hour, so
``$__interval`` is 1h or a coarser whole number of hours and a 30-day range reads 720 points per series, never raw
points. Panels over the last day or less read raw points (their relative time is fixed with ``timeFrom``), and
panels over weeks of days read the daily roll-ups (``rp_1d``, local days of the city's time zone). The current
hour reaches the hourly tier once the roll-up worker completed it (up to about an hour and its settle time later).

Template variables appear as ``=~ /^$var$/``: Grafana writes a multi-value or "All" selection as a regex
alternation ``(a|b)``, which only a regex match accepts (see docs/GRAFANA.md, "Template variables").
"""

from __future__ import annotations

from smartcity.contract.metrics import METRICS
from smartcity.influx.client import quote_identifier
from smartcity.influx.schema import DEAD_LETTERS, DEVICE_HEALTH
from smartcity.rollups import DAY, HOUR, Tier

TIME_FILTER = "$timeFilter"
INTERVAL = "$__interval"
HOURLY_MIN_INTERVAL = "1h"
"""The smallest ``$__interval`` of a panel on the hourly roll-ups (a bucket never splits an hour)."""
VARIABLE_SOURCE = "device_vitals"
"""Every device reports vitals, so its tag values list every district, facility kind and facility."""
HEALTH = quote_identifier(DEVICE_HEALTH)
LETTERS = quote_identifier(DEAD_LETTERS)
WHO_PM25_24H = 15.0
"""WHO 2021 PM2.5 24-hour guideline (ug/m3), the threshold of the API's ``pm25_hours_above_who``."""
ABOVE_SCALE = 1_000_000_000
"""``ceil((x - t) / ABOVE_SCALE)`` is 1 when ``x > t`` and 0 otherwise, for any ``x - t`` within a billion:
InfluxQL has no CASE, and a count over rows filtered by a field would answer nothing (not 0) for clean air."""


def raw(measurement: str) -> str:
    return quote_identifier(measurement)


def rollup(tier: Tier, measurement: str) -> str:
    """A roll-up tier of a measurement in the datasource's database (``"rp_1h"."air_quality"``)."""
    return f"{quote_identifier(tier.retention_policy)}.{quote_identifier(measurement)}"


def hourly(metric: str) -> str:
    return rollup(HOUR, METRICS[metric].measurement)


def daily(metric: str) -> str:
    return rollup(DAY, METRICS[metric].measurement)


def mean_of(metric: str) -> str:
    """The exact mean over roll-up points: sum of sums over sum of counts."""
    return f'sum("{metric}_sum") / sum("{metric}_count") AS "{metric}"'


def matches(tag: str, variable: str) -> str:
    """``"district" =~ /^$district$/``: one value, several or all of them."""
    return f"{quote_identifier(tag)} =~ /^${variable}$/"


def above(expression: str, threshold: float) -> str:
    """1 when ``expression`` exceeds ``threshold``, else 0 (see :data:`ABOVE_SCALE`)."""
    return f"ceil(({expression} - {threshold:g}) / {ABOVE_SCALE})"


def where(*conditions: str) -> str:
    return " AND ".join((TIME_FILTER, *conditions))


def tag_is(tag: str, value: str) -> str:
    """``"facility_kind" = 'car_park'`` (a fixed tag value of the city model, not a variable)."""
    return f"{quote_identifier(tag)} = '{value}'"


def ref(name: str) -> str:
    """A field or column reference: ``"dim_level_min"``."""
    return quote_identifier(name)
