"""The privacy policy of a person-related dataset, declared once as data (docs/PRIVACY.md).

A policy fixes the grid of a release (areas x facility kinds x time windows, every level of each up to its
total), the rules a published cell must pass (at least ``k`` facilities, a value of at least ``threshold``) and the
rounding of published values. The caller of the engine chooses only which period to release; every window and area
of that period follows from the policy and the city's districts, so two releases never differ by a window or an
area that a caller picked.
"""

from __future__ import annotations

import enum
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field, model_validator

from smartcity.city.model import DEFAULT_TIMEZONE, FacilityKind, TimeZoneName

DISTRICT_LEVEL = "district"
CITY_LEVEL = "city"
CITY_AREA = "city"
"""Area id of the whole city (the root of the area axis)."""
ALL_KINDS = "all"
"""Kind id of the total over every kind (the root of the kind axis)."""


class Span(enum.StrEnum):
    """A window length or a release period. Hours are counted on the local clock (a local 3-hour window that holds
    a daylight saving change lasts 2 or 4 hours); days, weeks (Monday to Sunday) and months start at local
    midnight."""

    HOUR = "1h"
    TWO_HOURS = "2h"
    THREE_HOURS = "3h"
    FOUR_HOURS = "4h"
    SIX_HOURS = "6h"
    EIGHT_HOURS = "8h"
    TWELVE_HOURS = "12h"
    DAY = "1d"
    WEEK = "1w"
    MONTH = "1mo"

    @property
    def hours(self) -> int | None:
        """Clock hours of a window shorter than a day; None for a day or longer."""
        return _HOURS.get(self)

    @property
    def rank(self) -> int:
        """Order from the shortest (0) to the longest."""
        return list(Span).index(self)

    def nests_in(self, other: Span) -> bool:
        """True when windows of this span tile windows of ``other`` (hours tile days, days tile weeks and
        months; weeks do not tile months)."""
        if self is other:
            return True
        if self.rank > other.rank:
            return False
        return not (self is Span.WEEK and other is Span.MONTH)


_HOURS = {Span.HOUR: 1, Span.TWO_HOURS: 2, Span.THREE_HOURS: 3, Span.FOUR_HOURS: 4, Span.SIX_HOURS: 6}
_HOURS |= {Span.EIGHT_HOURS: 8, Span.TWELVE_HOURS: 12}
PERIODS = (Span.DAY, Span.WEEK, Span.MONTH)


class TimeAggregation(enum.StrEnum):
    """How a longer window's value follows from its shorter windows."""

    MEAN = "mean"
    """A level (people present): the duration-weighted mean of the shorter windows."""
    SUM = "sum"
    """A flow (people entering): the sum of the shorter windows."""


class AreaGrouping(BaseModel):
    """One level of areas between the districts and the whole city: each area is a set of districts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="level name, e.g. 'borough'")
    areas: dict[str, tuple[str, ...]] = Field(
        min_length=1, description="area id -> its district ids; together the areas partition the city's districts"
    )


class PrivacyPolicy(BaseModel):
    """How one person-related dataset is released. Every field is part of the published method."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_related: bool = Field(
        default=True,
        description="False for environmental data: the engine publishes every cell unchanged, at full resolution",
    )
    timezone: TimeZoneName = Field(
        default=DEFAULT_TIMEZONE, description="the city's IANA time zone: windows and periods follow its clock"
    )
    kinds: tuple[FacilityKind, ...] = Field(min_length=1, description="facility kinds the dataset covers")
    kind_groups: dict[str, tuple[FacilityKind, ...]] = Field(
        default_factory=dict,
        description="optional: kind group id -> its kinds (a partition of ``kinds``); when set, the grid's kind "
        "axis is the groups rather than the single kinds",
    )
    kind_total: bool = Field(
        default=True,
        description="publish the total over every kind (per area and window); without it each kind (or group) is "
        "released on its own and no margin joins them",
    )
    area_groupings: tuple[AreaGrouping, ...] = Field(
        default=(), description="coarser area levels between the districts and the city, finest first"
    )
    finest_area: str = Field(
        default=DISTRICT_LEVEL,
        description="the finest area level of the grid: 'district', the name of an area grouping, or 'city'",
    )
    window: Span = Field(default=Span.HOUR, description="the finest time window of the grid (an hour or longer)")
    period: Span = Field(
        default=Span.DAY, description="what one release covers: a local day, week or month (windows tile it)"
    )
    time_aggregation: TimeAggregation = Field(
        default=TimeAggregation.MEAN, description="how longer windows combine shorter ones (mean for people present)"
    )
    k: int = Field(default=3, ge=2, le=1_000, description="fewest facilities a published cell may hold")
    threshold: Fraction = Field(
        default=Fraction(10),
        gt=0,
        description="a value below it (people) is suppressed; complementary cells are chosen among values above it",
    )
    publish_zeros: bool = Field(
        default=True,
        description="publish a zero of a cell with at least k facilities (nobody present discloses nobody); when "
        "False zeros are suppressed like any value below the threshold",
    )
    rounding: Fraction | None = Field(
        default=Fraction(1), gt=0, description="published values are rounded to a multiple of this (None: exact)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> PrivacyPolicy:
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("kinds must not repeat")
        if self.kind_groups:
            grouped = [kind for kinds in self.kind_groups.values() for kind in kinds]
            if sorted(grouped) != sorted(self.kinds):
                raise ValueError("kind_groups must hold every kind of 'kinds' exactly once")
            if ALL_KINDS in self.kind_groups:
                raise ValueError(f"{ALL_KINDS!r} names the total over every kind, not a kind group")
        levels = self.area_levels
        if self.finest_area not in levels:
            raise ValueError(f"finest_area must be one of {levels}, got {self.finest_area!r}")
        if len(set(levels)) != len(levels):
            raise ValueError("area level names must differ from each other and from 'district' and 'city'")
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {[p.value for p in PERIODS]}, got {self.period.value}")
        if not self.window.nests_in(self.period):
            raise ValueError(f"{self.window.value} windows do not tile a {self.period.value} period")
        return self

    @property
    def area_levels(self) -> tuple[str, ...]:
        """Every area level name, finest first: 'district', the groupings, 'city'."""
        return (DISTRICT_LEVEL, *(grouping.name for grouping in self.area_groupings), CITY_LEVEL)

    @property
    def window_levels(self) -> tuple[Span, ...]:
        """The published window spans, finest first: the window, the day when it lies between, the period."""
        spans = [self.window]
        if self.window.hours is not None and self.period is not Span.DAY:
            spans.append(Span.DAY)
        if self.period is not spans[-1]:
            spans.append(self.period)
        return tuple(spans)


def environmental_policy(timezone: str = DEFAULT_TIMEZONE) -> PrivacyPolicy:
    """The policy of data about the environment (air, noise, weather, water): published unchanged, per sensor."""
    return PrivacyPolicy(person_related=False, timezone=timezone, kinds=tuple(FacilityKind))
