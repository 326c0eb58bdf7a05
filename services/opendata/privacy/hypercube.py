"""Secondary suppression by hypercubes: for each protected cell, a set of unpublished cells that proves its value
cannot be derived.

A hypercube around cell c picks, on each axis, c's node plus either a sibling subtree (the cube's other side) or
nothing (the cube runs up to the root); on the base cells it is the perturbation +1 on one side and -1 on the other
(on the time axis weighted by the other side's duration, so that longer windows keep their mean), and every cell of
the table changes by the product of the per-axis changes. The cells that change are exactly the
cube's corners; every other cell, published or not, keeps its value. So if every corner is unpublished and can
move by a small amount in its direction without leaving the bounds an attacker knows (counts are non-negative, a
primary cell lies below the threshold, a secondary one at or above it), every published figure is the same for the
true values and for the perturbed ones, and c's value is not determined: its feasible interval has positive width.
This is the hypercube method of statistical disclosure control (Repsilber's GHMITER in tau-argus), extended to
hierarchies by letting a side be a whole path from a leaf up to the sibling node.

Corners that were published become secondary suppressions; the cube chosen is the cheapest (fewest new
suppressions, margins counting more than finest cells, then the smallest suppressed value).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction

from services.opendata.privacy.cells import Treatment
from services.opendata.privacy.policy import TimeAggregation
from services.opendata.privacy.table import Table

Side = tuple[tuple[int, ...], tuple[int, ...]]
"""One axis of a cube: nodes moving up (+1: c's side) and nodes moving down (-1: the sibling side)."""

_Cube = tuple[int, Fraction, list[tuple[int, int]], dict[int, int]]
"""Cost, suppressed value, corners (cell, sign) and the change of the finest cells."""

_TIME = 2
_OPTIONS_PER_AXIS = 8
_MAX_TRIALS = 4_000


class Suppressor:
    """Chooses and applies hypercubes over a table whose treatments it updates in place."""

    def __init__(self, table: Table, treatments: list[Treatment]) -> None:
        self.table = table
        self.treatments = treatments
        self.witness: dict[int, dict[int, int]] = {}
        """Certified cell -> the cube that moves it, as a change of the finest cells (base index -> +1 or -1)."""
        threshold = table.policy.threshold
        self._up: list[bool] = []
        self._down: list[bool] = []
        for treatment, value in zip(treatments, table.values, strict=True):
            if treatment is Treatment.EMPTY:
                up = down = False
            elif treatment in (Treatment.PUBLISHED, Treatment.SUPPRESSED_SECONDARY):
                # once suppressed it is a secondary cell, known to be at or above the threshold
                up, down = value >= threshold, value > threshold
            else:  # primary (below the threshold, which it never reaches) or withheld: at least zero
                up, down = True, value > 0
            self._up.append(up)
            self._down.append(down)
        leaves = table.leaf_shape
        self._cost = [
            1 + sum(1 for c, n in zip(table.coords(i), leaves, strict=True) if c >= n) for i in range(len(table))
        ]
        """Cost of suppressing a published cell: 1 for a finest cell, one more for each axis it totals."""

    def movable(self, index: int, sign: int) -> bool:
        """Can this cell move by a small amount in direction ``sign`` and stay in the bounds an attacker knows of
        it once unpublished?"""
        return self._up[index] if sign > 0 else self._down[index]

    def certify(self, index: int, *, root: bool = False) -> None:
        """Make sure ``index`` lies in a valid cube, suppressing the cheapest cube's published corners (with
        ``root``, the cube up to the totals, which is always valid)."""
        if index in self.witness and not root:
            return
        best = None if root else self._search(index, _OPTIONS_PER_AXIS) or self._search(index, None)
        corners, change = (best[2], best[3]) if best is not None else self._root_cube(index)
        for corner, _ in corners:
            if self.treatments[corner] is Treatment.PUBLISHED:
                self.treatments[corner] = Treatment.SUPPRESSED_SECONDARY
            if root or corner not in self.witness:
                self.witness[corner] = change

    def _search(self, index: int, per_axis: int | None) -> _Cube | None:
        coords = self.table.coords(index)
        options = [self._ranked_sides(index, axis, coords[axis], per_axis) for axis in range(3)]
        if any(not found for found in options):
            return None
        best: _Cube | None = None
        for trials, combo in enumerate(itertools.product(*options)):
            if trials >= _MAX_TRIALS:
                break
            found = self._evaluate([side for _, side in combo], best[0] if best else None)
            if found is not None and (best is None or found[:2] < best[:2]):
                best = found
                if found[0] == 0:
                    break
        return best

    def _sides(self, axis: int, node: int) -> list[Side]:
        """Every side of a cube around ``node`` on ``axis``: up from each leaf below it to ``node`` or an ancestor,
        against a sibling of that ancestor (down from one of its leaves) or against nothing at a root. Against a
        sibling of an ancestor, only the sibling's leaf in the same place is tried (the same hour of another day)."""
        tree = self.table.axes[axis]
        out: list[Side] = []
        for top in tree.ancestors(node):
            for leaf in tree.nodes[node].leaves:
                up = tree.path_up(leaf, top)
                if tree.is_root(top):
                    out.append((up, ()))
                    continue
                place = tree.nodes[top].leaves.index(leaf)
                for sibling in tree.siblings(top):
                    others = tree.nodes[sibling].leaves
                    chosen = others if top == node else others[min(place, len(others) - 1) :][:1]
                    out.extend((up, tree.path_up(other, sibling)) for other in chosen)
        return out

    def _ranked_sides(self, index: int, axis: int, node: int, per_axis: int | None) -> list[tuple[int, Side]]:
        """The axis's sides whose cells on the line through ``index`` can move, cheapest first."""
        coords = list(self.table.coords(index))
        ranked = []
        for order, side in enumerate(self._sides(axis, node)):
            cost = 0
            for sign, nodes in ((1, side[0]), (-1, side[1])):
                for n in nodes:
                    coords[axis] = n
                    cell = self.table.index((coords[0], coords[1], coords[2]))
                    if not self.movable(cell, sign):
                        cost = -1
                        break
                    if self.treatments[cell] is Treatment.PUBLISHED:
                        cost += self._cost[cell]
                if cost < 0:
                    break
            if cost >= 0:
                ranked.append((cost, len(side[0]) + len(side[1]), order, side))
        ranked.sort()
        chosen = ranked if per_axis is None else ranked[:per_axis]
        return [(cost, side) for cost, _, _, side in chosen]

    def _evaluate(self, sides: Sequence[Side], bound: int | None) -> _Cube | None:
        _, nk, nw = self.table.shape
        up, down, treatments, costs = self._up, self._down, self.treatments, self._cost
        per_axis = [[(n, 1) for n in side[0]] + [(n, -1) for n in side[1]] for side in sides]
        cost = 0
        corners = []
        published = []
        for a, sa in per_axis[0]:
            for k, sk in per_axis[1]:
                row = (a * nk + k) * nw
                for w, sw in per_axis[2]:
                    cell = row + w
                    sign = sa * sk * sw
                    if not (up[cell] if sign > 0 else down[cell]):
                        return None
                    if treatments[cell] is Treatment.PUBLISHED:
                        cost += costs[cell]
                        if bound is not None and cost > bound:
                            return None
                        published.append(cell)
                    corners.append((cell, sign))
        value = sum((self.table.values[c] for c in published), Fraction(0))
        return cost, value, corners, self._change(sides)

    def _change(self, sides: Sequence[Side]) -> dict[int, int]:
        """The cube as a change of the finest cells: the product over the axes of (+ on the leaf of c's side,
        - on the leaf of the other). Under a duration-weighted mean two windows may weigh differently (one holds
        a daylight saving change), so each moves by the other's length: every window holding both keeps its
        mean."""
        ends: list[list[tuple[int, int]]] = []
        for axis, (up, down) in enumerate(sides):
            if not down:
                ends.append([(up[0], 1)])
                continue
            plus, minus = (self._weight(down[0]), self._weight(up[0])) if axis == _TIME else (1, 1)
            divisor = math.gcd(plus, minus)
            ends.append([(up[0], plus // divisor), (down[0], -minus // divisor)])
        return {
            self.table.base_of(self.table.index((a, k, w))): sa * sk * sw
            for (a, sa), (k, sk), (w, sw) in itertools.product(*ends)
        }

    def _weight(self, leaf: int) -> int:
        """A finest window's weight in every longer window holding it, up to a common factor."""
        if self.table.policy.time_aggregation is not TimeAggregation.MEAN:
            return 1
        start, end = self.table.times.window(leaf)
        return end - start

    def _root_cube(self, index: int) -> tuple[list[tuple[int, int]], dict[int, int]]:
        """The cube that runs up to the root on every axis from a non-empty finest cell below ``index``: always
        valid (every corner holds that finest cell, so none is empty, and all move up)."""
        table = self.table
        coords = table.coords(index)
        leaves = [table.axes[axis].nodes[coords[axis]].leaves for axis in range(3)]
        for a, k, w in itertools.product(*leaves):
            base = table.index((a, k, w))
            if table.values[base] > 0 or (table.values[index] == 0 and not table.empty[base]):
                areas, kinds, times = (table.axes[axis].ancestors(leaf) for axis, leaf in enumerate((a, k, w)))
                corners = [(table.index(cell), 1) for cell in itertools.product(areas, kinds, times)]
                return corners, {table.base_of(base): 1}
        raise ValueError(f"cell {index} holds no facility: nothing to protect")
