"""The generator's facility steps: how many of each kind, in which district, where, and the buildings' floor areas.

Counts follow the catalogue's inhabitants per facility, spread over districts by population; each facility lies at
a random point of its district's cell. Floor areas come from their own random stream, so adding them left the
facilities as they were.
"""

from __future__ import annotations

import random

from smartcity.city.catalogue import FACILITIES, STREET_NAMES, STREET_SUFFIXES
from smartcity.city.district_layout import DistrictCell, geo, share
from smartcity.city.geography import random_point_in
from smartcity.city.model import District, Facility, FacilityKind


def _facility_name(rng: random.Random, kind: FacilityKind, district: str, number: int) -> str:
    if kind is FacilityKind.STREET_SEGMENT:
        return f"{rng.choice(STREET_NAMES)} {rng.choice(STREET_SUFFIXES)}, {district} (segment {number})"
    return f"{district} {FACILITIES[kind].label} {number}"


def place_facilities(rng: random.Random, layout: list[DistrictCell], districts: list[District]) -> list[Facility]:
    """Every kind's facilities for the city's population, numbered per kind, placed inside their districts."""
    population = sum(d.population for d in layout)
    out: list[Facility] = []
    for kind, profile in FACILITIES.items():
        total = max(1, round(population / profile.inhabitants_per_facility))
        per_district = share(total, [d.population for d in layout])
        width = max(4, len(str(total)))
        serial = 0
        for cell, district, count in zip(layout, districts, per_district, strict=True):
            for number in range(1, count + 1):
                serial += 1
                capacity = rng.randint(*profile.capacity) if profile.capacity else None
                out.append(
                    Facility(
                        id=f"{profile.prefix}-{serial:0{width}d}",
                        kind=kind,
                        name=_facility_name(rng, kind, district.name, number),
                        district_id=district.id,
                        location=geo(random_point_in(rng, cell.ring)),
                        capacity=capacity,
                        capacity_unit=profile.capacity_unit if capacity is not None else None,
                    )
                )
    return out


def with_floor_areas(rng: random.Random, facilities: list[Facility]) -> list[Facility]:
    """Buildings get a gross floor area per unit of capacity (their own stream: the facilities stay as they were)."""
    out = []
    for facility in facilities:
        per_unit = FACILITIES[facility.kind].floor_m2
        if per_unit is None or not facility.capacity:
            out.append(facility)
            continue
        area = float(round(facility.capacity * rng.uniform(*per_unit), -1))
        out.append(facility.model_copy(update={"floor_area_m2": area}))
    return out
