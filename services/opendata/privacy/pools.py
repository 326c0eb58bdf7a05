"""The rule for what a published total gives away: the unpublished remainder of its children.

A published cell minus its published children along one axis is the total of its unpublished children: anyone can
compute it. So that total must itself pass the policy: at least k facilities and a value of at least the threshold
(a remainder of zero is harmless when zeros are published). Where it does not, one more child is suppressed (the
smallest that makes the remainder pass, else the largest), or the total itself when no child can be. This is also
what makes a merge sound: the cells merged into a coarser area are exactly such a remainder.
"""

from __future__ import annotations

from fractions import Fraction

from services.opendata.privacy.cells import UNPUBLISHED, Treatment
from services.opendata.privacy.policy import TimeAggregation
from services.opendata.privacy.table import Table

_TIME = 2


def remainder(table: Table, children: list[int], axis: int) -> tuple[int, Fraction]:
    """Facilities and value of the cells ``children`` (siblings along ``axis``) taken together."""
    if axis == _TIME:
        facilities = min(table.facilities[c] for c in children)
        if table.policy.time_aggregation is TimeAggregation.MEAN:
            durations = [table.duration_ms(c) for c in children]
            total = sum((d * table.values[c] for d, c in zip(durations, children, strict=True)), Fraction(0))
            return facilities, total / sum(durations)
        return facilities, sum((table.values[c] for c in children), Fraction(0))
    return sum(table.facilities[c] for c in children), sum((table.values[c] for c in children), Fraction(0))


def _passes(table: Table, facilities: int, value: Fraction) -> bool:
    policy = table.policy
    if value == 0 and policy.publish_zeros:
        return True
    return facilities >= policy.k and value >= policy.threshold


def _fix(table: Table, treatments: list[Treatment], parent: int, axis: int) -> bool:
    """Suppress what the remainder of ``parent`` along ``axis`` needs; True if anything changed."""
    children = table.children(parent, axis)
    pool = [c for c in children if treatments[c] in UNPUBLISHED]
    if not pool or _passes(table, *remainder(table, pool, axis)):
        return False
    threshold = table.policy.threshold
    candidates = [c for c in children if treatments[c] is Treatment.PUBLISHED and table.values[c] > threshold]
    if not candidates:
        treatments[parent] = Treatment.SUPPRESSED_SECONDARY
        return True
    candidates.sort(key=lambda c: (table.values[c], c))
    enough = [c for c in candidates if _passes(table, *remainder(table, [*pool, c], axis))]
    treatments[(enough or candidates[-1:])[0]] = Treatment.SUPPRESSED_SECONDARY
    return True


def fix_remainders(table: Table, treatments: list[Treatment]) -> int:
    """Suppress until every published cell's remainder passes along every axis; returns the cells suppressed."""
    suppressed = 0
    changed = True
    while changed:
        changed = False
        for parent in range(len(table)):
            for axis in range(3):
                while treatments[parent] is Treatment.PUBLISHED and _fix(table, treatments, parent, axis):
                    suppressed += 1
                    changed = True
    return suppressed
