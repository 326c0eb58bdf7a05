"""The generator's first step: district cells over the city extent, their names and populations, as city models.

A tessellation of a roughly 4:3 extent sized by population (:mod:`smartcity.city.geography`), population densest
at the centre; names from the catalogue, the most central district first. Also the small helpers the later steps
share: the projection of generated cities (:data:`CENTRE`), :func:`share` and :func:`geo`.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from itertools import pairwise

from smartcity.city.addressing import district_prefix, ula_prefix
from smartcity.city.catalogue import DISTRICT_NAMES
from smartcity.city.geography import LocalProjection, Point, centroid, tessellate
from smartcity.city.model import BBox, District, GeoPoint

CENTRE = LocalProjection(lat0=51.2277, lon0=6.7735)
"""Where generated cities lie (a Rhine-side city centre)."""
PEOPLE_PER_KM2 = 3_000


@dataclass(slots=True)
class DistrictCell:
    """One district while the city is generated: its cell in local kilometres, weight, name and population."""

    ring: list[Point]
    centre: Point
    weight: float
    name: str = ""
    population: int = 0


def share(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder, ties by position)."""
    whole = sum(weights)
    if whole <= 0:
        return [total if i == 0 else 0 for i in range(len(weights))]
    quotas = [total * w / whole for w in weights]
    counts = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - quotas[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def geo(point: Point) -> GeoPoint:
    """A point of the local projection as latitude and longitude."""
    lat, lon = CENTRE.to_lat_lon(point)
    return GeoPoint(lat=lat, lon=lon)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _roman(n: int) -> str:
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, letters in numerals:
        while n >= value:
            out, n = out + letters, n - value
    return out


def _district_names(rng: random.Random, count: int) -> list[str]:
    rest = list(DISTRICT_NAMES[1:])
    rng.shuffle(rest)
    pool = [DISTRICT_NAMES[0], *rest]
    return [pool[i % len(pool)] + ("" if i < len(pool) else f" {_roman(i // len(pool) + 1)}") for i in range(count)]


def lay_out_districts(rng: random.Random, count: int, population: int) -> list[DistrictCell]:
    """``count`` named district cells sharing ``population``, denser towards the centre."""
    area = max(4.0, population / PEOPLE_PER_KM2)
    width = math.sqrt(area * 4 / 3)
    rings = tessellate(rng, count, width, width * 3 / 4)
    districts = []
    for ring in rings:
        centre = centroid(ring)
        distance = math.hypot(*centre) / (width / 2)
        # density falls off from the centre; the jitter keeps neighbouring districts from looking alike
        cell_area = abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairwise(ring))) / 2
        districts.append(DistrictCell(ring, centre, cell_area * math.exp(-1.5 * distance) * rng.uniform(0.7, 1.3)))
    by_centrality = sorted(range(count), key=lambda i: math.hypot(*districts[i].centre))
    for name, i in zip(_district_names(rng, count), by_centrality, strict=True):
        districts[i].name = name
    for district, people in zip(districts, share(population, [d.weight for d in districts]), strict=True):
        district.population = people
    return districts


def district_models(layout: list[DistrictCell], seed: int) -> list[District]:
    """The cells as :class:`District` models: slug ids, polygons and bounding boxes, one /64 each."""
    ula = ula_prefix(seed)
    out = []
    for index, d in enumerate(layout):
        polygon = [geo(p) for p in d.ring]
        bbox = BBox(
            min_lat=min(p.lat for p in polygon),
            min_lon=min(p.lon for p in polygon),
            max_lat=max(p.lat for p in polygon),
            max_lon=max(p.lon for p in polygon),
        )
        out.append(
            District(
                id=_slug(d.name),
                name=d.name,
                population=d.population,
                centre=geo(d.centre),
                bbox=bbox,
                polygon=polygon,
                prefix=district_prefix(ula, index),
            )
        )
    return out
