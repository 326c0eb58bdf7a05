"""An attacker against the privacy engine's releases: random small cities, grids and values; everything published
(finest cells, margins per area over kinds and per kind over areas, coarser windows up to the period, coarser
areas up to the city) is thrown at exact linear algebra and an exact linear programme. No value the policy
protects may be recovered, and none may be pinned by the bounds the attacker knows.

The two controls first show that the attacker does find values when a release leaks them, so its silence on the
engine's releases means something.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings

from services.opendata.privacy import InputCell, PrivacyPolicy, Release, ReleasedCell, Treatment, publish
from services.opendata.privacy.engine import primary_treatments, released_cells
from services.opendata.privacy.policy import Span
from services.opendata.privacy.table import Table
from smartcity.city.model import FacilityKind
from tests.support.privacy_attacker import Attacker, key_of
from tests.support.privacy_strategies import Case, cases, local_midnight

_PROTECTED = (Treatment.SUPPRESSED_PRIMARY, Treatment.WITHHELD_K, Treatment.MERGED)
DAY = local_midnight("2025-03-12")


def _case(policy: PrivacyPolicy, values: dict[tuple[str, str], tuple[int, int]]) -> Case:
    """One window per day: (district, kind) -> (value, facilities)."""
    districts = tuple(sorted({district for district, _ in values}))
    cells = tuple(InputCell(d, k, DAY, value, facilities) for (d, k), (value, facilities) in values.items())
    return Case(policy, districts, DAY, cells, {DAY: 86_400_000})


def _primary_only(case: Case) -> Release:
    """What a release with the primary rules and no secondary suppression would publish."""
    table = Table(case.policy, case.districts, case.period_start_ms, case.cells)
    treatments = primary_treatments(table)
    levels = (table.areas.nodes[0].level, table.kinds.nodes[0].level, table.times.nodes[0].level)
    return Release(case.policy, table.period, released_cells(table, treatments), levels)


def _truth(case: Case, release: Release) -> dict[tuple[str, str, int], Fraction]:
    return {key_of(cell): case.truth(cell) for cell in release.finest}


def _protected(case: Case, release: Release) -> list[ReleasedCell]:
    zeros_published = case.policy.publish_zeros
    return [c for c in release.cells if c.treatment in _PROTECTED and (case.truth(c) > 0 or not zeros_published)]


def _daily(kinds: tuple[FacilityKind, ...], k: int) -> PrivacyPolicy:
    return PrivacyPolicy(kinds=kinds, k=k, window=Span.DAY, period=Span.DAY, threshold=Fraction(5), rounding=None)


ONE_KIND = _daily((FacilityKind.SCHOOL,), 3)
TWO_KINDS = _daily((FacilityKind.SCHOOL, FacilityKind.LIBRARY), 2)


def test_control_a_published_total_minus_the_published_cells_gives_the_withheld_one_away() -> None:
    case = _case(ONE_KIND, {("d0", "school"): (7, 1), ("d1", "school"): (30, 3)})
    leaky = _primary_only(case)
    withheld = next(c for c in leaky.finest if c.area == "d0")
    assert withheld.treatment is Treatment.WITHHELD_K
    assert Attacker(case.policy, case.districts, leaky).recovered(withheld) == 7
    safe = publish(case.policy, case.districts, case.period_start_ms, case.cells)
    attacker = Attacker(case.policy, case.districts, safe)
    assert [attacker.recovered(c) for c in _protected(case, safe)] == [None] * len(_protected(case, safe))


def test_control_bounds_pin_a_value_the_equations_leave_open() -> None:
    # d0: school 5 (1 facility), library 0; d1: school 30, library 0 (1 facility each). Published without secondary
    # suppression: d0's and d1's totals, the city's school and library totals (a zero). The library zero pins both
    # library cells to 0 (counts are non-negative), and then d0's total gives d0's school away.
    values = {("d0", "school"): (5, 1), ("d0", "library"): (0, 1), ("d1", "school"): (30, 1), ("d1", "library"): (0, 1)}
    case = _case(TWO_KINDS, values)
    leaky = _primary_only(case)
    school = next(c for c in leaky.finest if (c.area, c.kind) == ("d0", "school"))
    attacker = Attacker(case.policy, case.districts, leaky)
    assert attacker.recovered(school) is None
    assert not attacker.can_move(school, _truth(case, leaky))
    safe = publish(case.policy, case.districts, case.period_start_ms, case.cells)
    attacker = Attacker(case.policy, case.districts, safe)
    assert all(attacker.can_move(c, _truth(case, safe)) for c in _protected(case, safe))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_no_protected_value_can_be_recovered_or_pinned(case: Case) -> None:
    release = publish(case.policy, case.districts, case.period_start_ms, case.cells)
    assert release.audit_rounds == 0  # the hypercubes alone protected every cell: the audit found nothing
    attacker = Attacker(case.policy, case.districts, release)
    truth = _truth(case, release)
    for cell in release.cells:
        if cell.treatment is Treatment.PUBLISHED:
            assert cell.value == case.truth(cell)
    for cell in _protected(case, release):
        assert attacker.recovered(cell) is None, cell
        assert attacker.can_move(cell, truth), cell
