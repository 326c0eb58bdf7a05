"""Deterministic city generator: the same arguments give the same city, and :func:`smartcity.city.load.dump_city`
writes it as the same bytes.

Steps, each with its own random stream (so a change in one step does not reshuffle the others):
districts (a tessellation of the city extent, population densest at the centre: :mod:`~smartcity.city.district_layout`),
facilities (counts per population, spread over districts by population) and floor areas of the buildings (per unit of
capacity: :mod:`~smartcity.city.facility_plan`), devices (the facility kind's device mix, scaled so that the
requested count is met exactly: :mod:`~smartcity.city.device_plan`), with addresses from
:mod:`smartcity.city.addressing`. Departments are the default assignment of :mod:`smartcity.city.departments`.
"""

from __future__ import annotations

import random

from smartcity.city.addressing import ula_prefix
from smartcity.city.catalogue import INHABITANTS_PER_DEVICE
from smartcity.city.departments import default_departments
from smartcity.city.device_plan import place_devices
from smartcity.city.district_layout import district_models, lay_out_districts
from smartcity.city.facility_plan import place_facilities, with_floor_areas
from smartcity.city.load import gc_paused
from smartcity.city.model import DEFAULT_TIMEZONE, City, is_timezone

MAX_DEVICES = 5_000_000
MAX_DISTRICTS = 1_000


def default_districts(devices: int) -> int:
    """About one district per 40,000 inhabitants, between 4 and 30."""
    return min(30, max(4, round(devices * INHABITANTS_PER_DEVICE / 40_000)))


def generate_city(
    *, devices: int, seed: int, name: str = "Demo City", districts: int | None = None, timezone: str = DEFAULT_TIMEZONE
) -> City:
    """A realistic city with exactly ``devices`` devices; deterministic in all arguments. A bad argument raises
    :class:`ValueError` before anything is built."""
    if not is_timezone(timezone):
        raise ValueError(f"timezone {timezone!r} is not an IANA time zone name such as 'Europe/Berlin' or 'UTC'")
    if not 1 <= devices <= MAX_DEVICES:
        raise ValueError(f"devices must be between 1 and {MAX_DEVICES:,}, got {devices}")
    district_count = default_districts(devices) if districts is None else districts
    if not 1 <= district_count <= MAX_DISTRICTS:
        raise ValueError(f"districts must be between 1 and {MAX_DISTRICTS}, got {district_count}")
    population = max(5_000, round(devices * INHABITANTS_PER_DEVICE))
    with gc_paused():
        return _build(name, seed, district_count, population, devices, timezone)


def _build(name: str, seed: int, district_count: int, population: int, devices: int, timezone: str) -> City:
    # string seeds are hashed with SHA-512 by random.Random: the streams are the same on every Python 3 version
    layout = lay_out_districts(random.Random(f"{seed}/districts"), district_count, population)
    districts = district_models(layout, seed)
    facilities = place_facilities(random.Random(f"{seed}/facilities"), layout, districts)
    facilities = with_floor_areas(random.Random(f"{seed}/floor-areas"), facilities)
    device_models = place_devices(random.Random(f"{seed}/devices"), facilities, districts, devices, seed)
    return City(
        name=name,
        seed=seed,
        timezone=timezone,
        ula_prefix=ula_prefix(seed),
        departments=default_departments(),
        districts=districts,
        facilities=facilities,
        devices=device_models,
    )
