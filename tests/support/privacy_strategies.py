"""Hypothesis strategies for the privacy engine: small random cities (a few districts, facility kinds and windows),
a policy over them and one period's finest cells, plus the true value of every released cell (computed here from
the inputs, apart from the engine)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from services.opendata.privacy import AreaGrouping, InputCell, PrivacyPolicy, ReleasedCell, Span, TimeAggregation
from services.opendata.privacy import windows as win
from smartcity.city.model import FacilityKind

TIMEZONE = "Europe/Berlin"
PERSON_KINDS = (FacilityKind.SCHOOL, FacilityKind.LIBRARY, FacilityKind.HOSPITAL, FacilityKind.NURSING_HOME)


def local_midnight(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(TIMEZONE)).timestamp() * 1000)


# (window, period, first day): a plain day, both daylight saving days (23 and 25 hours), a week of days
GRIDS = (
    (Span.SIX_HOURS, Span.DAY, "2025-03-12"),
    (Span.EIGHT_HOURS, Span.DAY, "2025-03-30"),
    (Span.TWELVE_HOURS, Span.DAY, "2025-10-26"),
    (Span.SIX_HOURS, Span.DAY, "2025-10-26"),
    (Span.DAY, Span.WEEK, "2025-03-24"),
)


@dataclass(frozen=True)
class Case:
    policy: PrivacyPolicy
    districts: tuple[str, ...]
    period_start_ms: int
    cells: tuple[InputCell, ...]
    durations: dict[int, int]
    """Length of each finest window, by its start."""

    def truth(self, cell: ReleasedCell) -> Fraction:
        """The true value of a released cell, from the inputs."""
        areas = _districts_of(self.policy, self.districts, cell.area_level, cell.area)
        kinds = _kinds_of(self.policy, cell.kind_level, cell.kind)
        length = cell.window_end_ms - cell.window_start_ms
        total = Fraction(0)
        for given in self.cells:
            inside = cell.window_start_ms <= given.window_start_ms < cell.window_end_ms
            if given.area in areas and given.kind in kinds and inside:
                duration = self.durations[given.window_start_ms]
                mean = self.policy.time_aggregation is TimeAggregation.MEAN
                total += Fraction(given.value) * (Fraction(duration, length) if mean else 1)
        return total


def _districts_of(policy: PrivacyPolicy, districts: Sequence[str], level: str, area: str) -> set[str]:
    if level == "district":
        return {area}
    if level == "city":
        return set(districts)
    return set(next(g for g in policy.area_groupings if g.name == level).areas[area])


def _kinds_of(policy: PrivacyPolicy, level: str, kind: str) -> set[str]:
    if level == "all":
        return {k.value for k in policy.kinds}
    if level == "kind group":
        return {k.value for k in policy.kind_groups[kind]}
    return {kind}


_VALUES = st.one_of(st.just(0), st.integers(1, 12), st.integers(0, 60))


@st.composite
def cases(draw: st.DrawFn, *, rounding: bool = False) -> Case:
    count = draw(st.integers(1, 4))
    districts = tuple(f"d{i}" for i in range(count))
    kinds = tuple(draw(st.lists(st.sampled_from(PERSON_KINDS), min_size=1, max_size=3, unique=True)))
    groupings: tuple[AreaGrouping, ...] = ()
    finest = "district"
    if count >= 3 and draw(st.booleans()):
        cut = draw(st.integers(1, count - 1))
        groupings = (AreaGrouping(name="half", areas={"west": districts[:cut], "east": districts[cut:]}),)
        finest = draw(st.sampled_from(["district", "half"]))
    kind_groups = {}
    if len(kinds) == 3 and draw(st.booleans()):
        kind_groups = {"first": kinds[:2], "rest": kinds[2:]}
    window, period, day = draw(st.sampled_from(GRIDS))
    policy = PrivacyPolicy(
        timezone=TIMEZONE,
        kinds=kinds,
        kind_groups=kind_groups,
        kind_total=draw(st.booleans()),
        area_groupings=groupings,
        finest_area=finest,
        window=window,
        period=period,
        time_aggregation=draw(st.sampled_from(list(TimeAggregation))),
        k=draw(st.integers(2, 3)),
        threshold=Fraction(draw(st.sampled_from([2, 5, 10]))),
        publish_zeros=draw(st.booleans()),
        rounding=Fraction(draw(st.sampled_from([1, 5]))) if rounding else None,
    )
    start = local_midnight(day)
    windows = win.windows(window, TIMEZONE, win.aligned_period(period, TIMEZONE, start))
    cells = []
    for district in districts:
        for kind in kinds:
            facilities = draw(st.sampled_from([0, 1, 1, 2, 3, 4]))
            for window_start, _ in windows:
                value = draw(_VALUES) if facilities else 0
                cells.append(InputCell(district, kind.value, window_start, value, facilities))
    return Case(policy, districts, start, tuple(cells), {a: b - a for a, b in windows})
