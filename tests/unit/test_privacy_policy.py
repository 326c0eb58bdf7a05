"""The privacy policy as data: what it accepts, its grid's levels, local windows and periods, and the area tree."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.opendata.privacy import AreaGrouping, PrivacyPolicy, Span
from services.opendata.privacy import windows as win
from services.opendata.privacy.axes import area_axis, kind_axis
from smartcity.city.model import FacilityKind
from tests.support.privacy_strategies import TIMEZONE, local_midnight

H = 3_600_000
SCHOOL, LIBRARY = FacilityKind.SCHOOL, FacilityKind.LIBRARY


def test_the_defaults_are_an_hourly_day_of_districts_with_k_3_and_a_threshold_of_10() -> None:
    policy = PrivacyPolicy(kinds=(SCHOOL,))
    assert (policy.k, policy.threshold, policy.rounding, policy.publish_zeros) == (3, Fraction(10), Fraction(1), True)
    assert policy.area_levels == ("district", "city")
    assert policy.window_levels == (Span.HOUR, Span.DAY)
    assert PrivacyPolicy(kinds=(SCHOOL,), period=Span.WEEK).window_levels == (Span.HOUR, Span.DAY, Span.WEEK)
    assert PrivacyPolicy(kinds=(SCHOOL,), window=Span.DAY, period=Span.MONTH).window_levels == (Span.DAY, Span.MONTH)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kinds": ()}, "at least 1"),
        ({"kinds": (SCHOOL, SCHOOL)}, "repeat"),
        ({"kinds": (SCHOOL, LIBRARY), "kind_groups": {"g": (SCHOOL,)}}, "exactly once"),
        ({"kinds": (SCHOOL,), "kind_groups": {"all": (SCHOOL,)}}, "total over every kind"),
        ({"kinds": (SCHOOL,), "finest_area": "borough"}, "finest_area"),
        ({"kinds": (SCHOOL,), "period": "3h"}, "period must be"),
        ({"kinds": (SCHOOL,), "window": "1w", "period": "1mo"}, "do not tile"),
        ({"kinds": (SCHOOL,), "window": "1mo", "period": "1d"}, "do not tile"),
        ({"kinds": (SCHOOL,), "k": 1}, "greater than or equal to 2"),
        ({"kinds": (SCHOOL,), "threshold": 0}, "greater than 0"),
        ({"kinds": (SCHOOL,), "timezone": "Mars/Olympus"}, "IANA"),
        ({"kinds": (SCHOOL,), "area_groupings": [{"name": "city", "areas": {"x": ("a",)}}]}, "differ"),
    ],
)
def test_a_policy_that_contradicts_itself_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PrivacyPolicy.model_validate(fields)


def test_docs_privacy_md_describes_every_field_of_the_policy() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "PRIVACY.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`") for line in text.splitlines() if line.startswith("| `")}
    assert set(PrivacyPolicy.model_fields) <= rows


def test_a_policy_is_frozen_and_round_trips_through_json() -> None:
    policy = PrivacyPolicy(kinds=(SCHOOL, LIBRARY), kind_groups={"education": (SCHOOL, LIBRARY)}, threshold=5)
    assert PrivacyPolicy.model_validate_json(policy.model_dump_json()) == policy
    with pytest.raises(ValidationError):
        policy.k = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("day", "span", "hours"),
    [
        ("2025-03-12", Span.HOUR, [1] * 24),
        ("2025-03-30", Span.HOUR, [1] * 23),
        ("2025-10-26", Span.HOUR, [1] * 25),
        ("2025-03-30", Span.THREE_HOURS, [2, 3, 3, 3, 3, 3, 3, 3]),
        ("2025-10-26", Span.THREE_HOURS, [4, 3, 3, 3, 3, 3, 3, 3]),
        ("2025-10-26", Span.TWELVE_HOURS, [13, 12]),
        ("2025-03-30", Span.DAY, [23]),
    ],
)
def test_windows_follow_the_local_clock_through_daylight_saving_changes(day: str, span: Span, hours: list[int]) -> None:
    period = win.aligned_period(Span.DAY, TIMEZONE, local_midnight(day))
    windows = win.windows(span, TIMEZONE, period)
    assert [(end - start) // H for start, end in windows] == hours
    assert windows[0][0] == period[0]
    assert windows[-1][1] == period[1]


def test_weeks_start_on_monday_and_months_on_the_first_at_local_midnight() -> None:
    wednesday = local_midnight("2025-03-12")
    assert win.period_of(Span.WEEK, TIMEZONE, wednesday + 5 * H)[0] == local_midnight("2025-03-10")
    month = win.period_of(Span.MONTH, TIMEZONE, wednesday)
    assert month == (local_midnight("2025-03-01"), local_midnight("2025-04-01"))
    assert len(win.windows(Span.DAY, TIMEZONE, month)) == 31
    assert win.label((wednesday, wednesday + H), TIMEZONE) == "2025-03-12T00:00:00+01:00/2025-03-12T01:00:00+01:00"
    with pytest.raises(ValueError, match="local midnight"):
        win.aligned_period(Span.WEEK, TIMEZONE, wednesday)


def test_area_groupings_nest_between_the_districts_and_the_city() -> None:
    boroughs = AreaGrouping(name="borough", areas={"north": ("a", "b"), "south": ("c",)})
    policy = PrivacyPolicy(kinds=(SCHOOL,), area_groupings=(boroughs,))
    axis, leaf_of = area_axis(policy, ["a", "b", "c"])
    assert [(n.id, n.level, n.leaves) for n in axis.nodes] == [
        ("a", "district", (0,)),
        ("b", "district", (1,)),
        ("c", "district", (2,)),
        ("north", "borough", (0, 1)),
        ("south", "borough", (2,)),
        ("city", "city", (0, 1, 2)),
    ]
    assert leaf_of == {"a": 0, "b": 1, "c": 2}
    coarse, coarse_leaf = area_axis(policy.model_copy(update={"finest_area": "borough"}), ["a", "b", "c"])
    assert [n.id for n in coarse.nodes] == ["north", "south", "city"]
    assert coarse_leaf == {"a": 0, "b": 0, "c": 1}


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ((AreaGrouping(name="borough", areas={"north": ("a", "b")}),), "exactly once"),
        ((AreaGrouping(name="borough", areas={"north": ("a", "b", "c"), "none": ()}),), "without districts"),
        (
            (
                AreaGrouping(name="ward", areas={"w1": ("a", "b"), "w2": ("c",)}),
                AreaGrouping(name="borough", areas={"n": ("a",), "s": ("b", "c")}),
            ),
            "split",
        ),
    ],
)
def test_groupings_that_are_not_a_coarsening_are_refused(levels: tuple[AreaGrouping, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        area_axis(PrivacyPolicy(kinds=(SCHOOL,), area_groupings=levels), ["a", "b", "c"])


def test_kinds_group_and_total_as_the_policy_says() -> None:
    grouped = PrivacyPolicy(kinds=(SCHOOL, LIBRARY), kind_groups={"education": (SCHOOL, LIBRARY)})
    axis, leaf_of = kind_axis(grouped)
    assert [(n.id, n.level) for n in axis.nodes] == [("education", "kind group")]
    assert leaf_of == {"school": 0, "library": 0}
    separate, _ = kind_axis(PrivacyPolicy(kinds=(SCHOOL, LIBRARY), kind_total=False))
    assert [n.id for n in separate.nodes] == ["school", "library"]
    assert [n.id for n in kind_axis(PrivacyPolicy(kinds=(SCHOOL, LIBRARY)))[0].nodes] == ["school", "library", "all"]
