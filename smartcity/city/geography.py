"""Plane geometry for generated cities: a local kilometre grid around a centre point, a tessellation of the city
extent into district polygons, and point sampling inside them.

The tessellation cuts the extent into rows along jittered horizontal polylines and each row into cells along
slanted boundaries. Neighbouring cells share their edges exactly, so the districts cover the city without gaps or
overlaps, and every cell is a simple polygon (the jitter is bounded so that no two boundaries cross).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

KM_PER_DEGREE_LAT = 111.32

Point = tuple[float, float]
"""(x, y) in kilometres east and north of the city centre."""


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular projection around a centre: accurate to metres over a city's extent."""

    lat0: float
    lon0: float

    def to_lat_lon(self, point: Point) -> tuple[float, float]:
        x, y = point
        lat = self.lat0 + y / KM_PER_DEGREE_LAT
        lon = self.lon0 + x / (KM_PER_DEGREE_LAT * math.cos(math.radians(self.lat0)))
        return round(lat, 6), round(lon, 6)


def _split(rng: random.Random, count: int, total: int) -> list[int]:
    """``total`` cells over ``count`` rows, the extra ones in the middle rows (a city is widest at its centre)."""
    base, extra = divmod(total, count)
    middle = sorted(range(count), key=lambda row: (abs(row - (count - 1) / 2), rng.random()))
    wide = set(middle[:extra])
    return [base + (1 if row in wide else 0) for row in range(count)]


def _boundary_y(polyline: list[Point], x: float) -> float:
    """Height of a row boundary at ``x`` (linear between its vertices)."""
    for (x1, y1), (x2, y2) in itertools.pairwise(polyline):
        if x1 <= x <= x2:
            return y1 if x2 == x1 else y1 + (y2 - y1) * (x - x1) / (x2 - x1)
    return polyline[-1][1]


def _between(polyline: list[Point], x_from: float, x_to: float) -> list[Point]:
    return [p for p in polyline if x_from < p[0] < x_to]


def tessellate(rng: random.Random, cells: int, width: float, height: float) -> list[list[Point]]:
    """Cut a ``width`` x ``height`` km extent centred on (0, 0) into ``cells`` polygons (closed rings, counter-
    clockwise), ordered row by row from south-west to north-east."""
    rows = max(1, min(cells, round(math.sqrt(cells * height / width))))
    per_row = _split(rng, rows, cells)
    row_height = height / rows
    vertices = max(per_row) * 2 + 1
    xs = [-width / 2 + width * k / (vertices - 1) for k in range(vertices)]
    boundaries: list[list[Point]] = []
    for row in range(rows + 1):
        y = -height / 2 + row * row_height
        # interior boundaries wander by up to a fifth of a row: adjacent ones stay at least 0.6 rows apart
        amplitude = 0.2 * row_height if 0 < row < rows else 0.08 * row_height
        boundaries.append([(x, y + rng.uniform(-amplitude, amplitude)) for x in xs])
    rings: list[list[Point]] = []
    for row, count in enumerate(per_row):
        bottom, top = boundaries[row], boundaries[row + 1]
        cell_width = width / count
        cuts: list[tuple[float, float]] = [(-width / 2, -width / 2)]
        for k in range(1, count):
            x = -width / 2 + k * cell_width
            cuts.append((x + rng.uniform(-0.15, 0.15) * cell_width, x + rng.uniform(-0.15, 0.15) * cell_width))
        cuts.append((width / 2, width / 2))
        for (left_bottom, left_top), (right_bottom, right_top) in itertools.pairwise(cuts):
            ring: list[Point] = [(left_bottom, _boundary_y(bottom, left_bottom))]
            ring += _between(bottom, left_bottom, right_bottom)
            ring.append((right_bottom, _boundary_y(bottom, right_bottom)))
            ring.append((right_top, _boundary_y(top, right_top)))
            ring += reversed(_between(top, left_top, right_top))
            ring.append((left_top, _boundary_y(top, left_top)))
            ring.append(ring[0])
            rings.append(ring)
    return rings


def area(ring: list[Point]) -> float:
    """Signed area (shoelace); positive for counter-clockwise rings."""
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring)) / 2


def centroid(ring: list[Point]) -> Point:
    """Area centroid of a simple closed ring."""
    a = area(ring)
    cx = sum((x1 + x2) * (x1 * y2 - x2 * y1) for (x1, y1), (x2, y2) in itertools.pairwise(ring))
    cy = sum((y1 + y2) * (x1 * y2 - x2 * y1) for (x1, y1), (x2, y2) in itertools.pairwise(ring))
    return cx / (6 * a), cy / (6 * a)


def contains(ring: list[Point], point: Point) -> bool:
    """Even-odd ray casting."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def random_point_in(rng: random.Random, ring: list[Point]) -> Point:
    """A uniformly random point inside the ring (rejection sampling in its bounding box)."""
    min_x, max_x = min(p[0] for p in ring), max(p[0] for p in ring)
    min_y, max_y = min(p[1] for p in ring), max(p[1] for p in ring)
    for _ in range(1000):
        point = (rng.uniform(min_x, max_x), rng.uniform(min_y, max_y))
        if contains(ring, point):
            return point
    return centroid(ring)  # a degenerate sliver: the centroid is the best remaining guess
