"""District tessellation: the polygons cover the city without gaps or overlaps."""

from __future__ import annotations

import random

import pytest

from smartcity.city.geography import area, centroid, contains, random_point_in, tessellate


@pytest.mark.parametrize("cells", [1, 4, 7, 19, 30])
def test_districts_cover_the_extent_exactly_once(cells: int) -> None:
    width, height = 12.0, 9.0
    rings = tessellate(random.Random(cells), cells, width, height)
    assert len(rings) == cells
    assert all(ring[0] == ring[-1] and area(ring) > 0 for ring in rings)  # closed, counter-clockwise
    rows = max(1, min(cells, round((cells * height / width) ** 0.5)))
    # the outer top and bottom edges wander by up to 8 % of a row; inside that margin every point is in one district
    margin = 0.08 * height / rows + 1e-6
    probe = random.Random(99)
    for _ in range(3_000):
        point = (probe.uniform(-width / 2, width / 2), probe.uniform(-height / 2 + margin, height / 2 - margin))
        owners = [i for i, ring in enumerate(rings) if contains(ring, point)]
        assert len(owners) == 1, (point, owners)


def test_random_points_and_centroids_lie_inside() -> None:
    rng = random.Random(3)
    for ring in tessellate(rng, 12, 10.0, 7.5):
        assert contains(ring, centroid(ring))
        assert all(contains(ring, random_point_in(rng, ring)) for _ in range(50))
