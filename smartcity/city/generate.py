"""Deterministic city generator: the same arguments give the same city, and :func:`smartcity.city.load.dump_city`
writes it as the same bytes.

Steps, each with its own random stream (so a change in one step does not reshuffle the others):
districts (a tessellation of the city extent, population densest at the centre), facilities (counts per
population, spread over districts by population), floor areas of the buildings (per unit of capacity), devices
(the facility kind's device mix, scaled so that the requested count is met exactly), then addresses
(:mod:`smartcity.city.addressing`). Departments are the default assignment of :mod:`smartcity.city.departments`.
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any

from pydantic import TypeAdapter

from smartcity.city.addressing import SubnetAllocator, address_secret, district_prefix, ula_prefix
from smartcity.city.catalogue import (
    DISTRICT_NAMES,
    FACILITIES,
    INHABITANTS_PER_DEVICE,
    NETWORKS,
    RADIOS,
    STREET_NAMES,
    STREET_SUFFIXES,
)
from smartcity.city.departments import default_departments
from smartcity.city.geography import LocalProjection, Point, centroid, random_point_in, tessellate
from smartcity.city.load import gc_paused
from smartcity.city.model import (
    DEFAULT_TIMEZONE,
    BBox,
    City,
    Device,
    DeviceType,
    District,
    Facility,
    FacilityKind,
    GeoPoint,
    NetworkClass,
    is_timezone,
)

CENTRE = LocalProjection(lat0=51.2277, lon0=6.7735)
"""Where generated cities lie (a Rhine-side city centre)."""
PEOPLE_PER_KM2 = 3_000
MAX_DEVICES = 5_000_000
MAX_DISTRICTS = 1_000
_DEVICE_LIST = TypeAdapter(list[Device])


@dataclass(slots=True)
class _District:
    ring: list[Point]
    centre: Point
    weight: float
    name: str = ""
    population: int = 0


def _share(total: int, weights: list[float]) -> list[int]:
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


def _layout(rng: random.Random, count: int, population: int) -> list[_District]:
    area = max(4.0, population / PEOPLE_PER_KM2)
    width = math.sqrt(area * 4 / 3)
    rings = tessellate(rng, count, width, width * 3 / 4)
    districts = []
    for ring in rings:
        centre = centroid(ring)
        distance = math.hypot(*centre) / (width / 2)
        # density falls off from the centre; the jitter keeps neighbouring districts from looking alike
        cell_area = abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairwise(ring))) / 2
        districts.append(_District(ring, centre, cell_area * math.exp(-1.5 * distance) * rng.uniform(0.7, 1.3)))
    by_centrality = sorted(range(count), key=lambda i: math.hypot(*districts[i].centre))
    for name, i in zip(_district_names(rng, count), by_centrality, strict=True):
        districts[i].name = name
    for district, people in zip(districts, _share(population, [d.weight for d in districts]), strict=True):
        district.population = people
    return districts


def _geo(point: Point) -> GeoPoint:
    lat, lon = CENTRE.to_lat_lon(point)
    return GeoPoint(lat=lat, lon=lon)


def _districts(layout: list[_District], seed: int) -> list[District]:
    ula = ula_prefix(seed)
    out = []
    for index, d in enumerate(layout):
        polygon = [_geo(p) for p in d.ring]
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
                centre=_geo(d.centre),
                bbox=bbox,
                polygon=polygon,
                prefix=district_prefix(ula, index),
            )
        )
    return out


def _facility_name(rng: random.Random, kind: FacilityKind, district: str, number: int) -> str:
    if kind is FacilityKind.STREET_SEGMENT:
        return f"{rng.choice(STREET_NAMES)} {rng.choice(STREET_SUFFIXES)}, {district} (segment {number})"
    return f"{district} {FACILITIES[kind].label} {number}"


def _facilities(rng: random.Random, layout: list[_District], districts: list[District]) -> list[Facility]:
    population = sum(d.population for d in layout)
    out: list[Facility] = []
    for kind, profile in FACILITIES.items():
        total = max(1, round(population / profile.inhabitants_per_facility))
        per_district = _share(total, [d.population for d in layout])
        width = max(4, len(str(total)))
        serial = 0
        for geo, district, count in zip(layout, districts, per_district, strict=True):
            for number in range(1, count + 1):
                serial += 1
                capacity = rng.randint(*profile.capacity) if profile.capacity else None
                out.append(
                    Facility(
                        id=f"{profile.prefix}-{serial:0{width}d}",
                        kind=kind,
                        name=_facility_name(rng, kind, district.name, number),
                        district_id=district.id,
                        location=_geo(random_point_in(rng, geo.ring)),
                        capacity=capacity,
                        capacity_unit=profile.capacity_unit if capacity is not None else None,
                    )
                )
    return out


def _with_floor_areas(rng: random.Random, facilities: list[Facility]) -> list[Facility]:
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


def _device_counts(rng: random.Random, facilities: list[Facility], devices: int) -> list[tuple[int, DeviceType, int]]:
    """(facility index, device type, count) with counts summing to ``devices`` exactly.

    Systematic sampling over the cumulative quotas: every (facility, type) pair gets the floor or the ceiling of
    its quota, the total is exact, and small quotas (0.15 traffic counters per street) are spread fairly.
    """
    pairs: list[tuple[int, DeviceType]] = []
    weights: list[float] = []
    for index, facility in enumerate(facilities):
        profile = FACILITIES[facility.kind]
        expected = dict(profile.per_facility)
        for device_type, per_unit in profile.per_capacity.items():
            expected[device_type] = expected.get(device_type, 0.0) + per_unit * (facility.capacity or 0)
        for device_type, weight in expected.items():
            pairs.append((index, device_type))
            weights.append(weight * rng.uniform(0.8, 1.2))
    scale = devices / math.fsum(weights)
    offset = rng.random()
    counts: list[tuple[int, DeviceType, int]] = []
    previous = math.floor(offset)
    for (index, device_type), cumulative in zip(pairs, accumulate(w * scale for w in weights), strict=True):
        current = math.floor(min(cumulative, devices) + offset)
        if current > previous:
            counts.append((index, device_type, current - previous))
        previous = current
    shortfall = devices - sum(c for _, _, c in counts)  # float rounding at the very end, at most one device
    if shortfall:
        index, device_type, count = counts[-1]
        counts[-1] = (index, device_type, count + shortfall)
    return counts


def _devices(
    rng: random.Random, facilities: list[Facility], districts: list[District], devices: int, seed: int
) -> list[Device]:
    secret = address_secret(seed)
    allocators = {d.id: SubnetAllocator(d.prefix, secret) for d in districts}
    counts = _device_counts(rng, facilities, devices)
    widths = {t: max(6, len(str(sum(c for _, u, c in counts if u is t)))) for t in DeviceType}
    serials = dict.fromkeys(DeviceType, 0)
    # metres to degrees, for scattering devices around their facility
    dlat, dlon = 1 / 111_320, 1 / (111_320 * math.cos(math.radians(CENTRE.lat0)))
    rows: list[dict[str, Any]] = []
    for index, device_type, count in counts:
        facility = facilities[index]
        net = NETWORKS[device_type]
        radio_cumulative = list(accumulate(net.radio_weights))
        allocator = allocators[facility.district_id]
        spread = 150.0 if facility.kind in (FacilityKind.STREET_SEGMENT, FacilityKind.PARK) else 40.0
        for _ in range(count):
            serials[device_type] += 1
            device_id = f"{net.prefix}-{serials[device_type]:0{widths[device_type]}d}"
            narrowband = rng.random() < net.narrowband_share
            radio = None
            if narrowband:
                radio = RADIOS[bisect(radio_cumulative, rng.random() * radio_cumulative[-1])]
            firmware = net.firmware[0] if rng.random() < 0.7 else net.firmware[int(rng.random() * len(net.firmware))]
            rows.append(
                {
                    "id": device_id,
                    "type": device_type,
                    "facility_id": facility.id,
                    "district_id": facility.district_id,
                    "location": {
                        "lat": round(facility.location.lat + rng.uniform(-spread, spread) * dlat, 6),
                        "lon": round(facility.location.lon + rng.uniform(-spread, spread) * dlon, 6),
                    },
                    "ipv6": allocator.allocate(device_id),
                    "network": NetworkClass.NARROWBAND if narrowband else NetworkClass.BROADBAND,
                    "radio": radio,
                    "report_interval_s": net.interval_narrowband_s if narrowband else net.interval_broadband_s,
                    "firmware": firmware,
                }
            )
    # one validation call in pydantic-core: every generated value is checked, for about 9 us per device
    return _DEVICE_LIST.validate_python(rows)


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
    layout = _layout(random.Random(f"{seed}/districts"), district_count, population)
    district_models = _districts(layout, seed)
    facilities = _facilities(random.Random(f"{seed}/facilities"), layout, district_models)
    facilities = _with_floor_areas(random.Random(f"{seed}/floor-areas"), facilities)
    device_models = _devices(random.Random(f"{seed}/devices"), facilities, district_models, devices, seed)
    return City(
        name=name,
        seed=seed,
        timezone=timezone,
        ula_prefix=ula_prefix(seed),
        departments=default_departments(),
        districts=district_models,
        facilities=facilities,
        devices=device_models,
    )
