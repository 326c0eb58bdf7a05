"""One release as a table: every cell of areas x kinds x windows (leaves and margins), its facilities and value.

A cell is a triple of axis nodes; its value is a linear function of the finest cells (the *base*): the sum over
its areas and kinds of the duration-weighted mean (or sum) over its windows. :meth:`Table.row` gives that function
as integer weights, which is what the audit's exact linear algebra and the attacker work with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

from services.opendata.privacy import windows as win
from services.opendata.privacy.axes import Axis, area_axis, kind_axis, time_axis
from services.opendata.privacy.cells import InputCell
from services.opendata.privacy.policy import PrivacyPolicy

Coords = tuple[int, int, int]


def _exact(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise ValueError(f"a cell value must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a cell value must be finite, got {value!r}")
    exact = Fraction(value)
    if exact < 0:
        raise ValueError(f"a count cannot be negative, got {value!r}")
    return exact


class Table:
    """The cells of one release, built from its finest cells; a bad or incomplete grid raises ValueError."""

    def __init__(
        self, policy: PrivacyPolicy, districts: Sequence[str], period_start_ms: int, cells: Iterable[InputCell]
    ) -> None:
        self.policy = policy
        self.period = win.aligned_period(policy.period, policy.timezone, period_start_ms)
        self.areas, district_leaf = area_axis(policy, districts)
        self.kinds, kind_leaf = kind_axis(policy)
        self.times = time_axis(policy, self.period)
        self.axes: tuple[Axis, Axis, Axis] = (self.areas, self.kinds, self.times)
        self.shape = (len(self.areas), len(self.kinds), len(self.times))
        self.leaf_shape = (self.areas.leaf_count, self.kinds.leaf_count, self.times.leaf_count)
        la, lk, lw = self.leaf_shape
        window_leaf = {self.times.window(w)[0]: w for w in range(lw)}
        values = [Fraction(0)] * (la * lk * lw)
        facilities = [0] * (la * lk * lw)
        seen: set[tuple[str, str, int]] = set()
        for cell in cells:
            key = (cell.area, cell.kind, cell.window_start_ms)
            if cell.area not in district_leaf:
                raise ValueError(f"area {cell.area!r} is not a district of the city")
            if cell.kind not in kind_leaf:
                raise ValueError(f"kind {cell.kind!r} is not a kind of the policy")
            if cell.window_start_ms not in window_leaf:
                raise ValueError(f"{cell.window_start_ms} does not start a {policy.window.value} window of the period")
            if key in seen:
                raise ValueError(f"cell {key} is given twice")
            seen.add(key)
            value = _exact(cell.value)
            if cell.facilities < 0 or (cell.facilities == 0 and value != 0):
                raise ValueError(f"cell {key}: {cell.facilities} facilities cannot hold a value of {cell.value}")
            base = self._base(district_leaf[cell.area], kind_leaf[cell.kind], window_leaf[cell.window_start_ms])
            values[base] += value
            facilities[base] += cell.facilities
        expected = len(districts) * len(policy.kinds) * lw
        if len(seen) != expected:
            raise ValueError(f"a release is the whole grid: {expected} cells, got {len(seen)}")
        self.base_values = values
        self._fill(values, facilities)

    def _fill(self, base_values: list[Fraction], base_facilities: list[int]) -> None:
        na, nk, nw = self.shape
        lw = self.leaf_shape[2]
        self.values = [Fraction(0)] * (na * nk * nw)
        self.facilities = [0] * (na * nk * nw)
        self.empty = [False] * (na * nk * nw)
        for a in range(na):
            for k in range(nk):
                sums = [Fraction(0)] * lw
                counts = [0] * lw
                for leaf_a in self.areas.nodes[a].leaves:
                    for leaf_k in self.kinds.nodes[k].leaves:
                        for w in range(lw):
                            base = self._base(leaf_a, leaf_k, w)
                            sums[w] += base_values[base]
                            counts[w] += base_facilities[base]
                for w, node in enumerate(self.times.nodes):
                    index = self.index((a, k, w))
                    weighted = sum(
                        (weight * sums[leaf] for leaf, weight in zip(node.leaves, node.weights, strict=True)),
                        Fraction(0),
                    )
                    self.values[index] = node.scale * weighted
                    self.facilities[index] = min(counts[leaf] for leaf in node.leaves)
                    self.empty[index] = max(counts[leaf] for leaf in node.leaves) == 0

    def _base(self, a: int, k: int, w: int) -> int:
        _, lk, lw = self.leaf_shape
        return (a * lk + k) * lw + w

    def __len__(self) -> int:
        return len(self.values)

    def index(self, coords: Coords) -> int:
        _, nk, nw = self.shape
        return (coords[0] * nk + coords[1]) * nw + coords[2]

    def coords(self, index: int) -> Coords:
        _, nk, nw = self.shape
        rest, w = divmod(index, nw)
        a, k = divmod(rest, nk)
        return a, k, w

    def is_base(self, index: int) -> bool:
        return all(c < leaves for c, leaves in zip(self.coords(index), self.leaf_shape, strict=True))

    def base_of(self, index: int) -> int:
        """The base coordinate of a finest cell."""
        return self._base(*self.coords(index))

    def row(self, index: int) -> dict[int, int]:
        """The cell as integer weights of base coordinates (its value is ``scale`` times their weighted sum)."""
        a, k, w = (axis.nodes[c] for axis, c in zip(self.axes, self.coords(index), strict=True))
        return {
            self._base(leaf_a, leaf_k, leaf_w): weight
            for leaf_a in a.leaves
            for leaf_k in k.leaves
            for leaf_w, weight in zip(w.leaves, w.weights, strict=True)
        }

    def children(self, index: int, axis: int) -> list[int]:
        """The cells that add up to this one along ``axis`` (none for a leaf of that axis)."""
        coords = list(self.coords(index))
        out = []
        for child in self.axes[axis].nodes[coords[axis]].children:
            coords[axis] = child
            out.append(self.index((coords[0], coords[1], coords[2])))
        return out

    def duration_ms(self, index: int) -> int:
        start, end = self.times.window(self.coords(index)[2])
        return end - start
