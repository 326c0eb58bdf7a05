"""The privacy engine: from one release's measured cells to what may be published (docs/PRIVACY.md).

Steps, in order:

1. **Grid.** The cells must be the whole grid of one aligned period (every district x kind x window, once); the
   engine adds every margin: coarser areas up to the city, the total over kinds, coarser windows up to the period.
2. **Primary rules.** A cell with no facility is empty; one with fewer than k facilities is withheld; one whose
   value is below the threshold is suppressed (a zero is published when the policy says so).
3. **Secondary suppression.** Each protected cell gets a hypercube of unpublished cells (:mod:`.hypercube`), then
   every published total's unpublished remainder must pass the rules itself (:mod:`.pools`).
4. **Audit.** Exact linear algebra over everything published, and each cube checked cell by cell
   (:mod:`.audit`); a protected cell neither proves safe gets a cube up to the totals and the round repeats.
5. **Merges.** A withheld cell whose coarser area is published is reported as merged into that area.

Environmental data (a policy with ``person_related=False``) is returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

from services.opendata.privacy.audit import is_protected, unsafe_cells
from services.opendata.privacy.cells import InputCell, Number, ReleasedCell, Treatment
from services.opendata.privacy.hypercube import Suppressor
from services.opendata.privacy.policy import PrivacyPolicy
from services.opendata.privacy.pools import fix_remainders
from services.opendata.privacy.release import Release
from services.opendata.privacy.table import Table

_MAX_ROUNDS = 50


def publish(
    policy: PrivacyPolicy, districts: Sequence[str], period_start_ms: int, cells: Iterable[InputCell]
) -> Release:
    """The published release of one period; ValueError for cells that are not exactly the policy's grid."""
    given = list(cells)
    if not policy.person_related:
        return _unchanged(policy, given)
    table = Table(policy, districts, period_start_ms, given)
    treatments = primary_treatments(table)
    suppressor = Suppressor(table, treatments)
    protected = [i for i in range(len(table)) if is_protected(table, treatments, i)]
    for index in sorted(protected, key=lambda i: (_totalled_axes(table, i), i)):
        suppressor.certify(index)
    rounds = 0
    while True:
        fix_remainders(table, treatments)
        unsafe = unsafe_cells(table, treatments, suppressor.witness)
        if not unsafe:
            break
        if rounds == _MAX_ROUNDS:  # pragma: no cover - a root cube always holds: a bug if it comes to this
            raise RuntimeError(f"the audit still finds {len(unsafe)} derivable cells")
        rounds += 1
        for index in unsafe:
            suppressor.certify(index, root=True)
    merges = _label_merges(table, treatments)
    return Release(policy, table.period, released_cells(table, treatments, merges), _finest_levels(table), rounds)


def primary_treatments(table: Table) -> list[Treatment]:
    """Empty, withheld-k, suppressed-primary or (for now) published, per cell."""
    policy = table.policy
    out = []
    for index, value in enumerate(table.values):
        if table.empty[index]:
            out.append(Treatment.EMPTY)
        elif table.facilities[index] < policy.k:
            out.append(Treatment.WITHHELD_K)
        elif value < policy.threshold and not (value == 0 and policy.publish_zeros):
            out.append(Treatment.SUPPRESSED_PRIMARY)
        else:
            out.append(Treatment.PUBLISHED)
    return out


def _totalled_axes(table: Table, index: int) -> int:
    return sum(1 for c, leaves in zip(table.coords(index), table.leaf_shape, strict=True) if c >= leaves)


def _label_merges(table: Table, treatments: list[Treatment]) -> dict[int, str]:
    """Mark withheld cells whose nearest published coarser area holds them as merged; cell -> that area's id."""
    merges = {}
    for index, treatment in enumerate(treatments):
        if treatment is not Treatment.WITHHELD_K:
            continue
        a, k, w = table.coords(index)
        for area in table.areas.ancestors(a)[1:]:
            if treatments[table.index((area, k, w))] is Treatment.PUBLISHED:
                treatments[index] = Treatment.MERGED
                merges[index] = table.areas.nodes[area].id
                break
    return merges


def rounded(value: Fraction, step: Fraction | None) -> Number:
    """``value`` to the nearest multiple of ``step`` (halves up): an int when whole, else a float (the exact
    fraction when the policy does not round)."""
    if step is None:
        return int(value) if value.denominator == 1 else value
    exact = math.floor(value / step + Fraction(1, 2)) * step
    return int(exact) if exact.denominator == 1 else float(exact)


def released_cells(
    table: Table, treatments: list[Treatment], merges: dict[int, str] | None = None
) -> tuple[ReleasedCell, ...]:
    """The cells as published under ``treatments``: values only where published (or empty); ``merges`` names the
    area each merged cell is counted in."""
    step = table.policy.rounding
    out = []
    for index, treatment in enumerate(treatments):
        a, k, w = (axis.nodes[c] for axis, c in zip(table.axes, table.coords(index), strict=True))
        assert w.window is not None
        shown = treatment in (Treatment.PUBLISHED, Treatment.EMPTY)
        out.append(
            ReleasedCell(
                area=a.id,
                area_level=a.level,
                kind=k.id,
                kind_level=k.level,
                window_start_ms=w.window[0],
                window_end_ms=w.window[1],
                window_level=w.level,
                facilities=table.facilities[index],
                value=rounded(table.values[index], step) if shown else None,
                treatment=treatment,
                merged_into=(merges or {}).get(index),
            )
        )
    return tuple(out)


def _finest_levels(table: Table) -> tuple[str, str, str]:
    return (table.areas.nodes[0].level, table.kinds.nodes[0].level, table.times.nodes[0].level)


def _unchanged(policy: PrivacyPolicy, cells: list[InputCell]) -> Release:
    out = tuple(
        ReleasedCell(
            area=cell.area,
            area_level="as measured",
            kind=cell.kind,
            kind_level="kind",
            window_start_ms=cell.window_start_ms,
            window_end_ms=cell.window_end_ms if cell.window_end_ms is not None else cell.window_start_ms,
            window_level="as measured",
            facilities=cell.facilities,
            value=cell.value,
            treatment=Treatment.PUBLISHED,
        )
        for cell in cells
    )
    starts = [c.window_start_ms for c in out] or [0]
    ends = [c.window_end_ms for c in out] or [0]
    return Release(policy, (min(starts), max(ends)), out, ("as measured", "kind", "as measured"))
