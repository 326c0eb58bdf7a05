"""The audit: which protected cells could an attacker pin down from everything the release publishes?

The attacker knows every published value (finest cells, margins, totals, coarser windows and areas: one release
holds them all), the grid and the facility counts, and that counts are non-negative, that a primary suppression
lies below the threshold and a secondary one at or above it. The unknowns are the unpublished finest cells. A
protected cell (a primary suppression, or a cell of fewer than k facilities, with a value above zero unless zeros
are suppressed too) is safe when some change of the unknowns moves its value while every published figure stays
the same and every known bound holds; then its feasible interval has positive width. Two exact tests prove it:

1. **Span.** Its row (over the unknowns) is not in the span of the rows of the published cells and of every
   unpublished cell sitting on a bound (zero, or a secondary cell exactly at the threshold): then some change
   moves it and leaves all of those alone. Holding the cells on a bound fixed asks more than the attacker can do.
2. **Witness.** Failing that, the hypercube that certified it is checked cell by cell: no published cell changes,
   no cell on a lower bound falls, and the cell itself moves. That covers cells that can only move where others
   on a bound move up with them (a zero beside a published total, a secondary cell exactly at the threshold).

A cell that passes neither is unsafe: the engine suppresses more and audits again.
"""

from __future__ import annotations

import itertools

from services.opendata.privacy.cells import Treatment
from services.opendata.privacy.exact import ExactSpan, Vector
from services.opendata.privacy.table import Table

_PROTECTABLE = frozenset({Treatment.SUPPRESSED_PRIMARY, Treatment.WITHHELD_K, Treatment.MERGED})
_KNOWN = frozenset({Treatment.PUBLISHED, Treatment.EMPTY})


def is_protected(table: Table, treatments: list[Treatment], index: int) -> bool:
    """A cell whose value must not be derivable: below the threshold or of fewer than k facilities (a zero only
    when zeros are suppressed: 'nobody was there' discloses nobody)."""
    if treatments[index] not in _PROTECTABLE:
        return False
    return table.values[index] > 0 or not table.policy.publish_zeros


def is_tight(table: Table, treatments: list[Treatment], index: int) -> bool:
    """An unpublished cell on a bound the attacker knows: zero, or a secondary cell exactly at the threshold."""
    value = table.values[index]
    return value == 0 or _at_threshold(table, treatments[index], index)


def _at_threshold(table: Table, treatment: Treatment, index: int) -> bool:
    return treatment is Treatment.SUPPRESSED_SECONDARY and table.values[index] == table.policy.threshold


def _changes(table: Table, change: dict[int, int]) -> dict[int, int]:
    """How much each cell moves (up to its positive scale) when the finest cells move by ``change``."""
    lk, lw = table.leaf_shape[1], table.leaf_shape[2]
    out: dict[int, int] = {}
    for base, delta in change.items():
        coords = (base // (lk * lw), base // lw % lk, base % lw)
        ancestors = [axis.ancestors(c) for axis, c in zip(table.axes, coords, strict=True)]
        for a, k, w in itertools.product(*ancestors):
            node = table.times.nodes[w]
            weight = node.weights[node.leaves.index(coords[2])]
            index = table.index((a, k, w))
            out[index] = out.get(index, 0) + delta * weight
    return out


def witness_holds(table: Table, treatments: list[Treatment], index: int, change: dict[int, int]) -> bool:
    """True when moving the finest cells by ``change`` (or by its opposite) moves ``index`` and keeps every
    published value and every bound on which an unpublished cell sits."""
    moved = _changes(table, change)
    if not moved.get(index):
        return False
    for direction in (1, -1):
        for cell, delta in moved.items():
            if not delta:
                continue
            if treatments[cell] in _KNOWN:
                break
            if direction * delta < 0 and is_tight(table, treatments, cell):
                break
        else:
            return True
    return False


def unsafe_cells(table: Table, treatments: list[Treatment], witness: dict[int, dict[int, int]]) -> list[int]:
    """The protected cells that neither test proves safe (none, for a release that may be published)."""
    known = {table.base_of(i) for i in range(len(table)) if table.is_base(i) and treatments[i] in _KNOWN}

    def unknown_part(index: int) -> Vector:
        return {b: w for b, w in table.row(index).items() if b not in known}

    span = ExactSpan()
    protected: list[int] = []
    for index, treatment in enumerate(treatments):
        if treatment is Treatment.PUBLISHED and not table.is_base(index):
            span.add(unknown_part(index))
        elif treatment not in _KNOWN:
            if is_tight(table, treatments, index):
                span.add(unknown_part(index))
            if is_protected(table, treatments, index):
                protected.append(index)
    unsafe = []
    for index in protected:
        tight = is_tight(table, treatments, index)
        if not tight and not span.contains(unknown_part(index)):
            continue
        change = witness.get(index)
        if change is None or not witness_holds(table, treatments, index, change):
            unsafe.append(index)
    return unsafe
