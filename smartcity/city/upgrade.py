"""Upgrading older city files in memory: what a version-1 file lacks is filled with documented defaults.

Version 1 had no time zone, no departments and no floor areas. The model's defaults give the first two
(:data:`smartcity.city.model.DEFAULT_TIMEZONE`, :func:`smartcity.city.departments.default_departments`); floor
areas of buildings are estimated here from their capacity, at the middle of the generator's range per unit
(10 m2 per pupil, 130 m2 per bed...), so energy per m2 has a denominator. A building without capacity keeps none.
"""

from __future__ import annotations

from collections.abc import Sequence

from smartcity.city.catalogue import FACILITIES
from smartcity.city.model import Facility


def estimated_floor_area(facility: Facility) -> float | None:
    """Floor area of a building from its capacity (None for non-buildings and buildings without capacity)."""
    per_unit = FACILITIES[facility.kind].floor_m2
    if not facility.kind.is_building or per_unit is None or not facility.capacity:
        return None
    return float(round(facility.capacity * (per_unit[0] + per_unit[1]) / 2))


def upgrade_facilities(facilities: Sequence[Facility]) -> list[Facility]:
    """The facilities with estimated floor areas where a version-1 file had none."""
    out = []
    for facility in facilities:
        area = facility.floor_area_m2 if facility.floor_area_m2 is not None else estimated_floor_area(facility)
        out.append(facility if area == facility.floor_area_m2 else facility.model_copy(update={"floor_area_m2": area}))
    return out
