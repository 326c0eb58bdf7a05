"""The generator's device step: how many devices of which type at each facility, and each device's details.

The facility kind's device mix (per facility and per unit of capacity, jittered) is scaled so that the requested
count is met exactly; each device gets its network class and radio from the catalogue's shares, a firmware
version, a location near its facility and an address from its district's /64 (:mod:`smartcity.city.addressing`).
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from itertools import accumulate
from typing import Any

from pydantic import TypeAdapter

from smartcity.city.addressing import SubnetAllocator, address_secret
from smartcity.city.catalogue import FACILITIES, NETWORKS, RADIOS
from smartcity.city.district_layout import CENTRE
from smartcity.city.model import Device, DeviceType, District, Facility, FacilityKind, NetworkClass

_DEVICE_LIST = TypeAdapter(list[Device])


def device_counts(rng: random.Random, facilities: list[Facility], devices: int) -> list[tuple[int, DeviceType, int]]:
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


def place_devices(
    rng: random.Random, facilities: list[Facility], districts: list[District], devices: int, seed: int
) -> list[Device]:
    """Exactly ``devices`` devices, numbered per type, at the facilities :func:`device_counts` picks."""
    secret = address_secret(seed)
    allocators = {d.id: SubnetAllocator(d.prefix, secret) for d in districts}
    counts = device_counts(rng, facilities, devices)
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
