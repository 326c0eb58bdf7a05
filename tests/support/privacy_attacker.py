"""An attacker on a privacy release, written apart from the engine: it reads only what is public (the policy's
grid, the districts, every released cell with its value or treatment) and tries to recover the value of any cell
it did not publish, by exact linear algebra over the rationals (every subtraction and difference of published
cells, margins, totals and coarser windows and areas at once), then asks an exact linear programme whether the
values it cannot pin down by equations alone are pinned by the bounds it knows (counts are non-negative, a primary
suppression is below the threshold, a secondary one at or above it).

The test that uses it knows the true values; the attacker does not, except to tell which bounds hold with equality
at the truth, which is how the feasible interval of a cell is measured.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from fractions import Fraction

from services.opendata.privacy import PrivacyPolicy, Release, ReleasedCell, Treatment
from services.opendata.privacy.policy import ALL_KINDS, CITY_LEVEL, DISTRICT_LEVEL, TimeAggregation
from tests.support.exact_lp import optimum

Key = tuple[str, str, int]
Row = dict[int, Fraction]
_KNOWN = (Treatment.PUBLISHED, Treatment.EMPTY)


def _published(cell: ReleasedCell) -> Fraction:
    assert cell.value is not None, cell
    return Fraction(cell.value)


def key_of(cell: ReleasedCell) -> Key:
    return cell.area, cell.kind, cell.window_start_ms


class Attacker:
    def __init__(self, policy: PrivacyPolicy, districts: Sequence[str], release: Release) -> None:
        self.policy = policy
        self.districts = tuple(districts)
        self.finest = release.finest
        self.unknown = [key_of(c) for c in self.finest if c.treatment not in _KNOWN]
        self.position = {key: i for i, key in enumerate(self.unknown)}
        self.known = {key_of(c): _published(c) for c in self.finest if c.treatment in _KNOWN}
        self.unpublished = [c for c in release.cells if c.treatment not in _KNOWN]
        self._pivots: dict[int, tuple[Row, Fraction]] = {}
        self._functionals: dict[ReleasedCell, dict[Key, Fraction]] = {}
        self._cone_cache: tuple[object, list[list[Fraction]], list[list[Fraction]]] | None = None
        for cell in release.cells:
            if cell.treatment is Treatment.PUBLISHED and key_of(cell) not in self.known:
                row, constant = self.split(cell)
                self._add(row, _published(cell) - constant)

    # -- the grid, as the public policy defines it
    def _districts_of(self, level: str, area: str) -> frozenset[str]:
        if level == DISTRICT_LEVEL:
            return frozenset({area})
        if level == CITY_LEVEL:
            return frozenset(self.districts)
        grouping = next(g for g in self.policy.area_groupings if g.name == level)
        return frozenset(grouping.areas[area])

    def _kinds_of(self, level: str, kind: str) -> frozenset[str]:
        if kind == ALL_KINDS and level == ALL_KINDS:
            return frozenset(k.value for k in self.policy.kinds)
        if level == "kind group":
            return frozenset(k.value for k in self.policy.kind_groups[kind])
        return frozenset({kind})

    def functional(self, cell: ReleasedCell) -> dict[Key, Fraction]:
        """The cell's value as a combination of the finest cells' values."""
        found = self._functionals.get(cell)
        if found is None:
            found = self._functionals[cell] = self._functional(cell)
        return found

    def _functional(self, cell: ReleasedCell) -> dict[Key, Fraction]:
        districts = self._districts_of(cell.area_level, cell.area)
        kinds = self._kinds_of(cell.kind_level, cell.kind)
        length = cell.window_end_ms - cell.window_start_ms
        out: dict[Key, Fraction] = {}
        for f in self.finest:
            inside = (
                self._districts_of(f.area_level, f.area) <= districts
                and self._kinds_of(f.kind_level, f.kind) <= kinds
                and cell.window_start_ms <= f.window_start_ms < cell.window_end_ms
            )
            if inside:
                mean = self.policy.time_aggregation is TimeAggregation.MEAN
                out[key_of(f)] = Fraction(f.window_end_ms - f.window_start_ms, length) if mean else Fraction(1)
        return out

    def split(self, cell: ReleasedCell) -> tuple[Row, Fraction]:
        """The cell as (combination of unknowns, known constant)."""
        row: Row = {}
        constant = Fraction(0)
        for key, weight in self.functional(cell).items():
            if key in self.known:
                constant += weight * self.known[key]
            else:
                row[self.position[key]] = weight
        return row, constant

    # -- exact elimination over the published equations
    def _reduce(self, row: Row, rhs: Fraction) -> tuple[Row, Fraction]:
        row = dict(row)
        for pivot in [c for c in row if c in self._pivots]:
            factor = row[pivot]
            basis, basis_rhs = self._pivots[pivot]
            for c, x in basis.items():
                value = row.get(c, Fraction(0)) - factor * x
                if value:
                    row[c] = value
                else:
                    row.pop(c, None)
            rhs -= factor * basis_rhs
        return row, rhs

    def _add(self, row: Row, rhs: Fraction) -> None:
        row, rhs = self._reduce(row, rhs)
        if not row:
            assert rhs == 0, "the published values contradict each other"
            return
        pivot = min(row)
        scale = 1 / row[pivot]
        row = {c: x * scale for c, x in row.items()}
        rhs *= scale
        for other, (basis, basis_rhs) in list(self._pivots.items()):
            if pivot in basis:
                factor = basis[pivot]
                merged = {
                    c: basis.get(c, Fraction(0)) - factor * row.get(c, Fraction(0)) for c in basis.keys() | row.keys()
                }
                self._pivots[other] = ({c: x for c, x in merged.items() if x}, basis_rhs - factor * rhs)
        self._pivots[pivot] = (row, rhs)

    def recovered(self, cell: ReleasedCell) -> Fraction | None:
        """The cell's value when the published equations determine it, else None."""
        row, constant = self.split(cell)
        residual, rhs = self._reduce(row, Fraction(0))
        return None if residual else constant - rhs

    # -- bounds: can the cell's value move at all inside the feasible set?
    def can_move(self, cell: ReleasedCell, truth: dict[Key, Fraction]) -> bool:
        """True when the cell's feasible interval, given every published figure and bound, has positive width.

        The feasible set is a polyhedron holding the truth; the cell's interval has positive width iff some
        feasible direction at the truth changes it. Feasible directions are the changes that keep every published
        value (d = N z, N a basis of the null space) and keep each bound that holds with equality at the truth
        (G z >= 0). On that cone the cell's value is not constant iff its row is not a combination of the cone's
        implicit equalities (the bounds that no feasible direction can leave), found by one exact LP."""
        target, _ = self.split(cell)
        objective = self._in_null(target)
        if not any(objective):
            return False
        active, implicit = self._cone(truth)
        if not _in_row_space(objective, active):
            return True  # a direction that leaves every active bound alone moves the cell
        return not _in_row_space(objective, implicit)

    def _cone(self, truth: dict[Key, Fraction]) -> tuple[list[list[Fraction]], list[list[Fraction]]]:
        key = tuple(sorted(truth.items()))
        if self._cone_cache is None or self._cone_cache[0] != key:
            active = [g for g in (self._in_null(row) for row in self._active(truth)) if any(g)]
            self._cone_cache = (key, active, _implicit_equalities(active, len(self._null)) if active else [])
        return self._cone_cache[1], self._cone_cache[2]

    @functools.cached_property
    def _null(self) -> list[Row]:
        """A basis of the changes of the unknowns that keep every published value."""
        free = [c for c in range(len(self.unknown)) if c not in self._pivots]
        basis = []
        for f in free:
            vector: Row = {f: Fraction(1)}
            for pivot, (row, _) in self._pivots.items():
                if row.get(f):
                    vector[pivot] = -row[f]
            basis.append(vector)
        return basis

    def _in_null(self, row: Row) -> list[Fraction]:
        return [sum((row.get(c, Fraction(0)) * x for c, x in n.items()), Fraction(0)) for n in self._null]

    def _active(self, truth: dict[Key, Fraction]) -> list[Row]:
        """The bounds that hold with equality at the truth: unknowns at zero, secondary cells at the threshold."""
        active: list[Row] = [{self.position[k]: Fraction(1)} for k in self.unknown if truth[k] == 0]
        for other in self.unpublished:
            if other.treatment is Treatment.SUPPRESSED_SECONDARY and self.value(other, truth) == self.policy.threshold:
                active.append(self.split(other)[0])
        return active

    def value(self, cell: ReleasedCell, truth: dict[Key, Fraction]) -> Fraction:
        return sum((w * truth[k] for k, w in self.functional(cell).items()), Fraction(0))


def _in_row_space(vector: list[Fraction], rows: list[list[Fraction]]) -> bool:
    """Is ``vector`` a combination of ``rows`` (dense, exact Gaussian elimination)?"""
    basis: list[tuple[int, list[Fraction]]] = []
    for row in [*rows, vector]:
        reduced = list(row)
        for pivot, b in basis:
            if reduced[pivot]:
                factor = reduced[pivot] / b[pivot]
                reduced = [x - factor * y for x, y in zip(reduced, b, strict=True)]
        lead = next((i for i, x in enumerate(reduced) if x), None)
        if row is vector:
            return lead is None
        if lead is not None:
            basis.append((lead, reduced))
    return False


def _implicit_equalities(rows: list[list[Fraction]], width: int) -> list[list[Fraction]]:
    """The rows g of the cone {z : g.z >= 0 for every row} that are 0 on all of it: max sum(t) subject to
    g_j.z >= t_j, 0 <= t_j <= 1, z free; the cone is scale-free, so at the optimum t_j = 1 exactly for the rows
    some direction can leave."""
    m = len(rows)
    one, zero = Fraction(1), Fraction(0)
    # variables: z+ (width), z- (width), t (m)
    a = [[-x for x in g] + list(g) + [one if i == j else zero for i in range(m)] for j, g in enumerate(rows)]
    a += [[zero] * (2 * width) + [one if i == j else zero for i in range(m)] for j in range(m)]
    b = [zero] * m + [one] * m
    found = optimum([zero] * (2 * width) + [one] * m, a, b)
    assert found is not None
    t = found[1][2 * width :]
    return [g for g, t_j in zip(rows, t, strict=True) if t_j < 1]
