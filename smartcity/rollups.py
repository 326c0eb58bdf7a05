"""Roll-ups: what the worker (``smartcity rollup``) writes and the API reads, defined once.

A roll-up point has the tags of the raw points it summarises (one series per device) and, per metric, the fields
``<metric>_sum``, ``_count``, ``_min`` and ``_max`` (numbers; booleans and text only ``_count``), plus
``<metric>_increase`` for cumulative registers (the consumption in the window, reset-aware). Sum and count
rather than a mean so that means stay exact when windows combine (a district's hour is the sum of its devices'
sums over the sum of their counts). The measurement keeps its raw name; each tier lives in its own retention
policy (``rp_1m``, ``rp_1h``, ``rp_1d`` on 1.x; buckets ``<db>/rp_1m`` ... on 2.x/3.x through DBRP, see
docs/ROLLUPS.md).

Windows: minutes and hours are UTC-aligned (every time zone in use is a whole number of minutes from UTC, and the
API's 1m/1h buckets are epoch-aligned); days are local days of the city's time zone, stamped with the UTC instant
of local midnight.

Progress: ``rollup_progress`` holds, per tier, the end of the last window completed (its time is that end, so the
newest point is the progress; one that aged out of raw retention is a worker that must start afresh anyway).
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

from smartcity.contract.metrics import MetricKind, MetricSpec, Temporality
from smartcity.contract.parse import ParseLimits
from smartcity.influx.client import InfluxClient, ParamValue, Series, quote_identifier
from smartcity.influx.lineprotocol import encode_point
from smartcity.influx.schema import ROLLUP_PROGRESS

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
NS_PER_MS = 1_000_000


class TierName(enum.StrEnum):
    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"


@dataclass(frozen=True, slots=True)
class Tier:
    """One roll-up resolution and where it is stored."""

    name: TierName
    bucket_s: int
    """Nominal window length (a local day may have 23 or 25 hours)."""
    retention_policy: str


MINUTE = Tier(TierName.MINUTE, 60, "rp_1m")
HOUR = Tier(TierName.HOUR, 3600, "rp_1h")
DAY = Tier(TierName.DAY, 86_400, "rp_1d")
TIERS = (MINUTE, HOUR, DAY)
"""Finest first."""

GATEWAY_MAX_PAST_DAYS = ParseLimits().max_past_ms // DAY_MS
"""The gateway's default late-data window (``SMARTCITY_GATEWAY_LIMITS__MAX_PAST_S``, 31 days), in days."""


class RollupPolicy(BaseModel):
    """How long raw points and each roll-up tier are kept (days; 0 keeps for ever).

    Raw retention must exceed the gateway's late-data window by at least a day: a point the gateway still accepts
    must not be refused by the store (1.x drops points older than the retention policy's duration), and the
    worker must still find it in raw to recompute its window. Raising the gateway's ``LIMITS__MAX_PAST_S`` means
    raising ``raw_days`` too."""

    raw_days: int = Field(
        default=35,
        ge=GATEWAY_MAX_PAST_DAYS + 1,
        le=36_500,
        description=f"raw points kept (days); more than the gateway's late-data window ({GATEWAY_MAX_PAST_DAYS} d)",
    )
    minute_days: int = Field(default=93, ge=0, le=36_500, description="1-minute roll-ups kept (days, 0 = for ever)")
    hour_days: int = Field(default=730, ge=0, le=36_500, description="1-hour roll-ups kept (days, 0 = for ever)")
    day_days: int = Field(default=0, ge=0, le=36_500, description="1-day roll-ups kept (days, 0 = for ever)")

    @model_validator(mode="after")
    def _coarser_lives_longer(self) -> RollupPolicy:
        chain = [("raw", self.raw_days), *((t.name.value, self.days(t)) for t in TIERS)]
        for (finer, finer_days), (coarser, coarser_days) in itertools.pairwise(chain):
            if finer_days == 0 and coarser_days != 0:
                raise ValueError(f"{finer} keeps for ever, so {coarser} must too (0)")
            if coarser_days and finer_days > coarser_days:
                raise ValueError(f"{coarser} roll-ups ({coarser_days} d) must be kept at least as long as {finer}")
        return self

    def days(self, tier: Tier) -> int:
        return {TierName.MINUTE: self.minute_days, TierName.HOUR: self.hour_days, TierName.DAY: self.day_days}[
            tier.name
        ]

    def influx_duration(self, tier: Tier) -> str:
        """The retention policy's DURATION clause value (``93d``, or ``INF``)."""
        days = self.days(tier)
        return f"{days}d" if days else "INF"


# -- fields ----------------------------------------------------------------------------------------------------------
def rolls_up(spec: MetricSpec) -> tuple[str, ...]:
    """The roll-up fields of a metric: sum, count, min, max for numbers (and increase for registers), count only
    for booleans and text."""
    if spec.kind not in (MetricKind.FLOAT, MetricKind.INT):
        return ("count",)
    if spec.temporality is Temporality.REGISTER:
        return ("sum", "count", "min", "max", "increase")
    return ("sum", "count", "min", "max")


def field(spec: MetricSpec, part: str) -> str:
    """``pm25`` + ``sum`` -> ``pm25_sum``."""
    return f"{spec.field}_{part}"


def coarsest_tier(bucket_s: int, *, percentile: bool = False) -> Tier | None:
    """The coarsest roll-up that answers buckets of ``bucket_s`` exactly: its windows must tile the bucket. None
    for a percentile (roll-ups keep no distribution: p95 comes from raw points, within raw retention only).

    A 1d request takes the day tier, whose days are the city's local days."""
    if percentile:
        return None
    fitting = [tier for tier in TIERS if bucket_s % tier.bucket_s == 0]
    return fitting[-1] if fitting else None


def source(database: str, tier: Tier, measurement: str) -> str:
    """The fully qualified InfluxQL source of a tier (``"city"."rp_1h"."air_quality"``)."""
    return ".".join(quote_identifier(part) for part in (database, tier.retention_policy, measurement))


# -- local days -----------------------------------------------------------------------------------------------------
class LocalDays:
    """Local days of one time zone (23, 24 or 25 hours long), as UTC ms."""

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)

    def day_of(self, ts_ms: int) -> tuple[int, int]:
        """``[start, end)`` of the local day holding ``ts_ms``."""
        local = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(self.zone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=self.zone)
        following = midnight.date() + timedelta(days=1)
        end = datetime(following.year, following.month, following.day, tzinfo=self.zone)
        return int(midnight.timestamp() * 1000), int(end.timestamp() * 1000)

    def start_of(self, ts_ms: int) -> int:
        return self.day_of(ts_ms)[0]

    def days_between(self, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """Every local day that ends in ``(start_ms, end_ms]`` (the days a span of completed hours closes)."""
        days: list[tuple[int, int]] = []
        day = self.day_of(start_ms)
        while day[1] <= end_ms:
            if day[1] > start_ms:
                days.append(day)
            day = self.day_of(day[1])
        return days


def window_floor(ts_ms: int, tier: Tier, days: LocalDays) -> int:
    """Start of the ``tier`` window holding ``ts_ms``."""
    return days.start_of(ts_ms) if tier is DAY else ts_ms // (tier.bucket_s * 1000) * tier.bucket_s * 1000


def window_ceil(ts_ms: int, tier: Tier, days: LocalDays) -> int:
    """``ts_ms`` when it starts a ``tier`` window, else the start of the next one."""
    floor = window_floor(ts_ms, tier, days)
    if floor == ts_ms:
        return ts_ms
    return days.day_of(ts_ms)[1] if tier is DAY else floor + tier.bucket_s * 1000


# -- progress --------------------------------------------------------------------------------------------------------
LATE_CURSOR = "late"
"""The ``tier`` tag of the worker's cursor over ``late_windows`` marks."""


class ProgressQueries(Protocol):
    """What reading the marks needs of InfluxDB (:class:`InfluxClient` is one)."""

    async def query(
        self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms"
    ) -> list[Series]: ...


REWRITTEN = "rewritten"
"""The ``tier`` tag of the worker's mark after it redid windows for late data: its value is when (ms). Answers
computed from roll-ups before it may be stale (:mod:`services.api.answers`)."""


def progress_line(tier: str, completed_ms: int) -> str:
    """The ``rollup_progress`` point saying ``tier`` is complete up to ``completed_ms``."""
    return encode_point(ROLLUP_PROGRESS, {"tier": tier}, {"completed_ms": completed_ms}, completed_ms)


async def read_progress(influx: InfluxClient, tier: str) -> int | None:
    """Where ``tier`` is complete up to (ms), or None before the worker completed anything."""
    query = f'SELECT last("completed_ms") FROM {quote_identifier(ROLLUP_PROGRESS)} WHERE "tier" = $tier'
    for series in await influx.query(query, {"tier": tier}):
        for row in series.values:
            if len(row) > 1 and isinstance(row[1], int):
                return row[1]
    return None


async def read_all_progress(influx: ProgressQueries) -> dict[str, int]:
    """Every ``rollup_progress`` mark (tier -> ms) in one query: the tiers' progress, the late cursor and
    :data:`REWRITTEN`."""
    query = f'SELECT last("completed_ms") FROM {quote_identifier(ROLLUP_PROGRESS)} GROUP BY "tier"'
    marks: dict[str, int] = {}
    for series in await influx.query(query):
        for row in series.values:
            if len(row) > 1 and isinstance(row[1], int) and "tier" in series.tags:
                marks[series.tags["tier"]] = row[1]
    return marks
