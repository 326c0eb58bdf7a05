"""The privacy engine's rules on every release: deterministic, k facilities and the threshold in every published
cell, rounding, merges and their labels, views of one release at coarser levels, environmental data unchanged,
and what a grid that is not the policy's gets."""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.opendata.privacy import InputCell, PrivacyPolicy, Span, Treatment, environmental_policy, publish
from services.opendata.privacy.engine import rounded
from services.opendata.privacy.policy import TimeAggregation
from services.opendata.privacy.table import Table
from smartcity.city.model import FacilityKind
from tests.support.privacy_strategies import Case, cases, local_midnight

_FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAY = local_midnight("2025-03-12")
SCHOOL = FacilityKind.SCHOOL


@_FAST
@given(cases(rounding=True), st.randoms(use_true_random=False))
def test_the_same_cells_in_any_order_give_the_same_release(case: Case, shuffler: random.Random) -> None:
    first = publish(case.policy, case.districts, case.period_start_ms, case.cells)
    shuffled = list(case.cells)
    shuffler.shuffle(shuffled)
    assert publish(case.policy, case.districts, case.period_start_ms, shuffled) == first


@_FAST
@given(cases(rounding=True))
def test_every_published_cell_holds_k_facilities_and_reaches_the_threshold(case: Case) -> None:
    policy = case.policy
    release = publish(policy, case.districts, case.period_start_ms, case.cells)
    for cell in release.cells:
        truth = case.truth(cell)
        if cell.treatment is Treatment.PUBLISHED:
            assert cell.facilities >= policy.k
            assert truth >= policy.threshold or (truth == 0 and policy.publish_zeros)
            assert cell.value == rounded(truth, policy.rounding)
        elif cell.treatment is Treatment.EMPTY:
            assert (cell.facilities, cell.value) == (0, 0)
        else:
            assert cell.value is None
        if cell.treatment is Treatment.SUPPRESSED_SECONDARY:
            assert (truth >= policy.threshold, cell.facilities >= policy.k) == (True, True)
        if cell.treatment is Treatment.SUPPRESSED_PRIMARY:
            assert (truth < policy.threshold, cell.facilities >= policy.k) == (True, True)
        if cell.treatment in (Treatment.WITHHELD_K, Treatment.MERGED):
            assert 0 < cell.facilities < policy.k


@_FAST
@given(cases())
def test_a_merged_cell_lies_in_a_published_coarser_area(case: Case) -> None:
    release = publish(case.policy, case.districts, case.period_start_ms, case.cells)
    published = {
        (c.area, c.area_level, c.kind, c.window_start_ms, c.window_end_ms)
        for c in release.cells
        if c.treatment is Treatment.PUBLISHED
    }
    levels = case.policy.area_levels
    for cell in release.cells:
        if cell.treatment is Treatment.MERGED:
            assert cell.merged_into is not None
            assert cell.label == f"merged-into-{cell.merged_into}"
            coarser = levels[levels.index(cell.area_level) + 1 :]
            targets = {(cell.merged_into, lvl, cell.kind, cell.window_start_ms, cell.window_end_ms) for lvl in coarser}
            assert targets & published


@_FAST
@given(cases())
def test_what_a_published_total_leaves_over_passes_the_rules_itself(case: Case) -> None:
    policy = case.policy
    release = publish(policy, case.districts, case.period_start_ms, case.cells)
    table = Table(policy, case.districts, case.period_start_ms, case.cells)  # the same cells, in the same order
    for index, cell in enumerate(release.cells):
        if cell.treatment is not Treatment.PUBLISHED:
            continue
        for axis in range(3):
            hidden = [release.cells[c] for c in table.children(index, axis)]
            hidden = [c for c in hidden if c.treatment not in (Treatment.PUBLISHED, Treatment.EMPTY)]
            if not hidden:
                continue
            if axis == 2:  # the same facilities over fewer windows: their duration-weighted mean, or sum
                facilities = min(c.facilities for c in hidden)
                lengths = [c.window_end_ms - c.window_start_ms for c in hidden]
                total = sum(case.truth(c) * n for c, n in zip(hidden, lengths, strict=True))
                value = (
                    total / sum(lengths)
                    if policy.time_aggregation is TimeAggregation.MEAN
                    else sum(case.truth(c) for c in hidden)
                )
            else:
                facilities = sum(c.facilities for c in hidden)
                value = sum(case.truth(c) for c in hidden)
            if value == 0 and policy.publish_zeros:
                continue
            assert facilities >= policy.k, (cell, hidden)
            assert value >= policy.threshold, (cell, hidden)


@_FAST
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.floats(allow_nan=False), st.integers(0, 10**12))))
def test_environmental_data_is_published_unchanged(readings: list[tuple[str, float, int]]) -> None:
    cells = [InputCell(sensor, "park", ts, value, 1, ts + 60_000) for sensor, value, ts in readings]
    release = publish(environmental_policy(), [], 0, cells)
    assert [(c.area, c.value, c.window_start_ms, c.window_end_ms) for c in release.cells] == [
        (c.area, c.value, c.window_start_ms, c.window_end_ms) for c in cells
    ]
    assert all(c.treatment is Treatment.PUBLISHED for c in release.cells)


def _school_day(
    facilities: dict[str, int], values: dict[str, int], **policy: object
) -> tuple[PrivacyPolicy, list[InputCell]]:
    chosen = PrivacyPolicy.model_validate({"kinds": ("school",), "window": "1d", "period": "1d", **policy})
    return chosen, [InputCell(d, "school", DAY, values[d], n) for d, n in facilities.items()]


def test_a_district_of_too_few_schools_is_merged_into_the_city_with_the_others() -> None:
    policy, cells = _school_day({"a": 2, "b": 1, "c": 5}, {"a": 40, "b": 30, "c": 200})
    release = publish(policy, ["a", "b", "c"], DAY, cells)
    by_area = {c.area: c for c in release.cells}
    assert (by_area["city"].label, by_area["city"].value) == ("published", 270)
    assert (by_area["c"].label, by_area["c"].value) == ("published", 200)
    assert [by_area[a].label for a in ("a", "b")] == ["merged-into-city", "merged-into-city"]
    assert release.published_share() == pytest.approx(1 / 3)
    assert release.covered_share() == 1.0


def test_a_small_count_is_suppressed_with_a_complement_and_exports_may_hide_which_is_which() -> None:
    policy, cells = _school_day({"a": 3, "b": 3, "c": 3}, {"a": 4, "b": 50, "c": 80})
    release = publish(policy, ["a", "b", "c"], DAY, cells)
    by_area = {c.area: c for c in release.cells}
    assert by_area["a"].label == "suppressed-primary"
    assert by_area["b"].label == "suppressed-secondary"  # the smaller complement
    assert (by_area["c"].value, by_area["city"].value) == (80, 134)
    assert {by_area[a].public_label for a in ("a", "b")} == {"suppressed"}


def test_rounding_is_to_the_nearest_multiple_halves_up() -> None:
    assert rounded(Fraction(25, 2), Fraction(5)) == 15
    assert rounded(Fraction(24, 2), Fraction(5)) == 10
    assert rounded(Fraction(7, 2), Fraction(1)) == 4
    assert rounded(Fraction(7, 2), None) == Fraction(7, 2)
    assert rounded(Fraction(3, 4), Fraction(1, 2)) == 1.0


def test_coarser_datasets_are_views_of_the_same_release() -> None:
    policy = PrivacyPolicy(kinds=(SCHOOL, FacilityKind.LIBRARY), window=Span.TWELVE_HOURS, rounding=None)
    cells = [
        InputCell(d, kind, start, value, 3)
        for d in ("a", "b")
        for kind in ("school", "library")
        for start, value in ((DAY, 20), (DAY + 12 * 3_600_000, 40))
    ]
    release = publish(policy, ["a", "b"], DAY, cells)
    days = release.view("city", "all", "1d")
    assert [(c.value, c.facilities) for c in days] == [(120, 12)]
    assert len(release.view("district", "kind", "12h")) == len(release.finest) == 8
    assert len(release.cells) == 3 * 3 * 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda cells: cells[1:], "whole grid"),
        (lambda cells: [*cells, cells[0]], "twice"),
        (lambda cells: [InputCell("x", "school", DAY, 1, 3), *cells[1:]], "not a district"),
        (lambda cells: [InputCell("a", "park", DAY, 1, 3), *cells[1:]], "not a kind"),
        (lambda cells: [InputCell("a", "school", DAY + 1, 1, 3), *cells[1:]], "does not start"),
        (lambda cells: [InputCell("a", "school", DAY, -1, 3), *cells[1:]], "negative"),
        (lambda cells: [InputCell("a", "school", DAY, 2, 0), *cells[1:]], "cannot hold"),
        (lambda cells: [InputCell("a", "school", DAY, float("nan"), 3), *cells[1:]], "finite"),
    ],
)
def test_cells_that_are_not_the_policys_grid_are_refused(
    change: Callable[[list[InputCell]], list[InputCell]], message: str
) -> None:
    policy, cells = _school_day({"a": 3, "b": 3}, {"a": 10, "b": 10})
    with pytest.raises(ValueError, match=message):
        publish(policy, ["a", "b"], DAY, change(cells))


def test_a_release_starts_at_a_period_boundary() -> None:
    policy, cells = _school_day({"a": 3}, {"a": 10})
    with pytest.raises(ValueError, match="local midnight"):
        publish(policy, ["a"], DAY + 3_600_000, cells)
