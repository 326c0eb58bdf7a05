"""The three axes of a release grid: areas, facility kinds and time windows, each a tree from its finest cells (the
leaves) to its total (the root).

The area axis runs from the policy's finest area level (districts, an area grouping, or the city) through every
coarser grouping to the city; the kind axis from the kinds (or kind groups) to the total over every kind; the time
axis from the finest windows through local days (when they lie between) to the release period. Every node of every
level is part of the release: a published margin is just a cell whose coordinates are not all leaves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from services.opendata.privacy import windows as win
from services.opendata.privacy.policy import ALL_KINDS, CITY_AREA, CITY_LEVEL, DISTRICT_LEVEL, PrivacyPolicy
from services.opendata.privacy.policy import TimeAggregation as Agg


@dataclass(frozen=True, slots=True)
class Node:
    """One node of an axis: a leaf (finest cell coordinate) or a total over its children."""

    id: str
    """Area id, kind id or the window's local ISO interval."""
    level: str
    """Level name: 'district', a grouping, 'city'; 'kind', 'kind group', 'all'; a span such as '1h' or '1d'."""
    parent: int | None
    children: tuple[int, ...]
    leaves: tuple[int, ...]
    """The leaves below the node (itself for a leaf)."""
    weights: tuple[int, ...]
    """Integer weight of each leaf in ``leaves``: value = scale x sum(weight x leaf value)."""
    scale: Fraction
    window: win.Window | None = None
    """``[start, end)`` ms of a time node."""


class Axis:
    """A tree (or, for kinds without a total, a row of single leaves) whose first ``leaf_count`` nodes are its
    leaves, parents after their children."""

    def __init__(self, name: str, nodes: Sequence[Node]) -> None:
        self.name = name
        self.nodes = tuple(nodes)
        self.leaf_count = sum(1 for node in nodes if not node.children)

    def __len__(self) -> int:
        return len(self.nodes)

    def path_up(self, leaf: int, top: int) -> tuple[int, ...]:
        """The nodes from ``leaf`` up to its ancestor ``top``, both included."""
        path = [leaf]
        while path[-1] != top:
            parent = self.nodes[path[-1]].parent
            if parent is None:
                raise ValueError(f"node {top} is not above leaf {leaf}")
            path.append(parent)
        return tuple(path)

    def ancestors(self, node: int) -> tuple[int, ...]:
        """``node`` and every node above it, up to its root."""
        path = [node]
        while (parent := self.nodes[path[-1]].parent) is not None:
            path.append(parent)
        return tuple(path)

    def window(self, node: int) -> win.Window:
        """``[start, end)`` ms of a node of the time axis."""
        window = self.nodes[node].window
        if window is None:
            raise ValueError(f"{self.name} node {node} is not a time window")
        return window

    def is_root(self, node: int) -> bool:
        return self.nodes[node].parent is None

    def siblings(self, node: int) -> tuple[int, ...]:
        parent = self.nodes[node].parent
        return () if parent is None else tuple(c for c in self.nodes[parent].children if c != node)


def _tree(
    name: str, leaves: Sequence[tuple[str, str]], levels: Sequence[tuple[str, Sequence[tuple[str, list[int]]]]]
) -> Axis:
    """An axis from its leaves (id, level) and each coarser level's nodes (id, children in the level below)."""
    nodes = [Node(ident, level, None, (), (i,), (1,), Fraction(1)) for i, (ident, level) in enumerate(leaves)]
    below = list(range(len(nodes)))
    for level, groups in levels:
        placed: list[int] = []
        for ident, children in groups:
            index = len(nodes)
            child_nodes = [below[c] for c in children]
            leaf_ids = tuple(sorted(leaf for c in child_nodes for leaf in nodes[c].leaves))
            nodes.append(Node(ident, level, None, tuple(child_nodes), leaf_ids, (1,) * len(leaf_ids), Fraction(1)))
            for c in child_nodes:
                nodes[c] = _with_parent(nodes[c], index)
            placed.append(index)
        below = placed
    return Axis(name, nodes)


def _with_parent(node: Node, parent: int) -> Node:
    return Node(node.id, node.level, parent, node.children, node.leaves, node.weights, node.scale, node.window)


def area_axis(policy: PrivacyPolicy, districts: Sequence[str]) -> tuple[Axis, dict[str, int]]:
    """The area tree over the city's districts, and the leaf each district adds up into."""
    if not districts or len(set(districts)) != len(districts):
        raise ValueError("a release needs the city's districts, each once")
    order = {d: i for i, d in enumerate(districts)}
    partitions: list[tuple[str, Mapping[str, tuple[str, ...]]]] = [(DISTRICT_LEVEL, {d: (d,) for d in districts})]
    partitions += [(grouping.name, grouping.areas) for grouping in policy.area_groupings]
    partitions.append((CITY_LEVEL, {CITY_AREA: tuple(districts)}))
    owners: list[dict[str, str]] = []
    for name, areas in partitions:
        if any(not members for members in areas.values()):
            raise ValueError(f"area level {name!r} has an area without districts")
        if sorted(d for members in areas.values() for d in members) != sorted(districts):
            raise ValueError(f"area level {name!r} must hold each of the city's districts exactly once")
        owners.append({d: area for area, members in areas.items() for d in members})
    start = policy.area_levels.index(policy.finest_area)

    def ordered(areas: Mapping[str, tuple[str, ...]]) -> list[str]:
        return sorted(areas, key=lambda area: min(order[d] for d in areas[area]))

    leaf_ids = ordered(partitions[start][1])
    leaves = [(ident, partitions[start][0]) for ident in leaf_ids]
    levels: list[tuple[str, list[tuple[str, list[int]]]]] = []
    below = leaf_ids
    for level in range(start + 1, len(partitions)):
        name, areas = partitions[level]
        finer, coarser = owners[level - 1], owners[level]
        for d in districts:
            if any(coarser[e] != coarser[d] for e in districts if finer[e] == finer[d]):
                raise ValueError(f"area {finer[d]!r} is split between areas of the coarser level {name!r}")
        ids = ordered(areas)
        first_district = {area: partitions[level - 1][1][area][0] for area in below}
        groups = [
            (ident, [i for i, area in enumerate(below) if coarser[first_district[area]] == ident]) for ident in ids
        ]
        levels.append((name, groups))
        below = ids
    leaf_of = {d: leaf_ids.index(owners[start][d]) for d in districts}
    return _tree("area", leaves, levels), leaf_of


def kind_axis(policy: PrivacyPolicy) -> tuple[Axis, dict[str, int]]:
    """The kind tree (kinds or kind groups, then the total), and the leaf each kind adds up into."""
    if policy.kind_groups:
        leaf_ids = list(policy.kind_groups)
        leaf_of = {kind.value: leaf_ids.index(g) for g, kinds in policy.kind_groups.items() for kind in kinds}
        level = "kind group"
    else:
        leaf_ids = [kind.value for kind in policy.kinds]
        leaf_of = {ident: i for i, ident in enumerate(leaf_ids)}
        level = "kind"
    leaves = [(ident, level) for ident in leaf_ids]
    total = policy.kind_total and len(leaf_ids) > 1
    levels = [(ALL_KINDS, [(ALL_KINDS, list(range(len(leaf_ids))))])] if total else []
    return _tree("kind", leaves, levels), leaf_of


def time_axis(policy: PrivacyPolicy, period: win.Window) -> Axis:
    """The time tree of one period: its finest windows, the local days between (if any), the period."""
    spans = policy.window_levels
    per_level = [win.windows(span, policy.timezone, period) for span in spans]
    if len(per_level[-1]) != 1:
        raise ValueError("the coarsest window level must be the period")
    leaf_windows = per_level[0]
    mean = policy.time_aggregation is Agg.MEAN
    nodes: list[Node] = []
    below: list[tuple[int, win.Window]] = []
    for level, (span, found) in enumerate(zip(spans, per_level, strict=True)):
        placed: list[tuple[int, win.Window]] = []
        for window in found:
            children = tuple(c for c, w in below if window[0] <= w[0] < window[1]) if level else ()
            leaves = tuple(leaf for c in children for leaf in nodes[c].leaves) if level else (len(nodes),)
            lengths = [leaf_windows[leaf][1] - leaf_windows[leaf][0] for leaf in leaves]
            unit = math.gcd(*lengths)
            weights = tuple(length // unit for length in lengths) if mean else (1,) * len(leaves)
            scale = Fraction(unit, window[1] - window[0]) if mean else Fraction(1)
            label = win.label(window, policy.timezone)
            nodes.append(Node(label, span.value, None, children, leaves, weights, scale, window))
            for c in children:
                nodes[c] = _with_parent(nodes[c], len(nodes) - 1)
            placed.append((len(nodes) - 1, window))
        below = placed
    return Axis("window", nodes)
