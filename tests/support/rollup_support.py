"""The roll-up tests' city and data: the API's test city plus one energy meter (a register with a reset), and
readings with uneven sampling and gaps, written as the gateway writes them. Expected roll-ups are computed here,
independently of the worker, from the same lists."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from ipaddress import IPv6Address
from pathlib import Path

from smartcity.city.directory import DeviceDirectory
from smartcity.city.model import City, DeviceType
from smartcity.contract.reading import Reading
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.rollups import LocalDays
from tests.support.api_support import FACILITIES, api_city
from tests.support.cities import device_at

MINUTE, HOUR = 60_000, 3_600_000


def rollup_city() -> City:
    base = api_city()
    meter = device_at(FACILITIES[0], "meter-n1", DeviceType.ENERGY_METER, IPv6Address("fd12:3456:789a:1::99"))
    return base.model_copy(update={"devices": [*base.devices, meter]})


def write_city(path: Path) -> Path:
    path.write_text(rollup_city().model_dump_json(indent=1), encoding="utf-8")
    return path


def lines_of(readings: list[Reading]) -> bytes:
    encoder = LineEncoder(DeviceDirectory.from_city(rollup_city()))
    return "\n".join(line for reading in readings for line in encoder.encode(reading)).encode()


def pm25_points(day_start: int) -> dict[str, list[tuple[int, float]]]:
    """Uneven sampling, a gap of several hours, two devices in district north (all inside one local day)."""
    offsets_n1 = [0, 7, 50, 61, 62, 130, 239, 601, 3599, 3600, 5 * 3600 + 610, 5 * 3600 + 611, 9 * 3600 + 5]
    offsets_n2 = [3, 59, 60, 400, 3 * 3600 + 900, 9 * 3600 + 1]
    return {
        "aq-n1": [(day_start + s * 1000, round(5 + (i * 7.3) % 11, 3)) for i, s in enumerate(offsets_n1)],
        "aq-n2": [(day_start + s * 1000, round(8.1 + (i * 3.7) % 13, 3)) for i, s in enumerate(offsets_n2)],
    }


def energy_points(day_start: int) -> list[tuple[int, float]]:
    """A register read every 10 minutes for three hours, replaced (reset to a small value) after 100 minutes."""
    values = [100.0 + 1.5 * i for i in range(10)] + [0.4 + 2.0 * i for i in range(8)]
    return [(day_start + i * 600_000, v) for i, v in enumerate(values)]


def readings(pm25: dict[str, list[tuple[int, float]]], energy: list[tuple[int, float]]) -> list[Reading]:
    out = [Reading(d, None, ts, {"pm25": v}) for d, points in pm25.items() for ts, v in points]
    return out + [Reading("meter-n1", None, ts, {"energy": v}) for ts, v in energy]


def expected_windows(
    points: list[tuple[int, float]], window_of: Callable[[int], int]
) -> dict[int, tuple[float, int, float, float]]:
    """(sum, count, min, max) per window."""
    groups: dict[int, list[float]] = defaultdict(list)
    for ts, value in points:
        groups[window_of(ts)].append(value)
    return {w: (sum(v), len(v), min(v), max(v)) for w, v in sorted(groups.items())}


def expected_increases(points: list[tuple[int, float]], window_of: Callable[[int], int]) -> dict[int, float]:
    """Consumption per window, counted at the later reading; a drop is a reset counted from the new value."""
    out: dict[int, float] = defaultdict(float)
    for (_t0, before), (ts, value) in itertools.pairwise(points):
        out[window_of(ts)] += value - before if value >= before else value
    out.setdefault(window_of(points[0][0]), 0.0)
    return dict(sorted(out.items()))


def minute(ts: int) -> int:
    return ts // MINUTE * MINUTE


def hour(ts: int) -> int:
    return ts // HOUR * HOUR


def day(timezone: str) -> Callable[[int], int]:
    return LocalDays(timezone).start_of
