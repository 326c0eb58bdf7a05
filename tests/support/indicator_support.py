"""The indicator tests' city and raw data: the API's test city (:func:`tests.support.api_support.api_city`) with
capacities and floor areas on its schools and car park, plus the devices every indicator needs (energy meters,
occupancy counters, street lights, waste bins), and one local day of readings with uneven sampling, gaps and a
meter reset. Each device's readings carry all the metrics written for it, so its readings are its timestamps."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv6Address
from pathlib import Path

from smartcity.city.directory import DeviceDirectory
from smartcity.city.model import City, DeviceType
from smartcity.contract.reading import Reading, Value
from smartcity.influx.lineprotocol import LineEncoder
from tests.support.api_support import api_city
from tests.support.cities import device_at

CAPACITY = {"school-n": 400, "school-s": 300, "carpark-s": 200}
FLOOR_AREA = {"school-n": 4_000.0, "school-s": 3_000.0}
EXTRA = [
    # id, type, facility, report interval (s)
    ("meter-n1", DeviceType.ENERGY_METER, "school-n", 600),
    ("meter-s1", DeviceType.ENERGY_METER, "school-s", 900),
    ("occ-n1", DeviceType.OCCUPANCY, "school-n", 300),
    ("occ-n2", DeviceType.OCCUPANCY, "school-n", 300),
    ("occ-s1", DeviceType.OCCUPANCY, "school-s", 300),
    ("occ-cp1", DeviceType.OCCUPANCY, "carpark-s", 300),
    ("occ-cp2", DeviceType.OCCUPANCY, "carpark-s", 300),
    ("light-n2", DeviceType.STREET_LIGHT, "park-n", 300),
    ("light-s1", DeviceType.STREET_LIGHT, "carpark-s", 300),
    ("bin-n1", DeviceType.WASTE_BIN, "street-n", 900),
    ("bin-n2", DeviceType.WASTE_BIN, "park-n", 900),
]
HOUR_S = 3600


def indicator_city() -> City:
    base = api_city()
    facilities = [
        f.model_copy(
            update={
                "capacity": CAPACITY.get(f.id),
                "capacity_unit": "places" if f.id in CAPACITY else None,
                "floor_area_m2": FLOOR_AREA.get(f.id),
            }
        )
        for f in base.facilities
    ]
    at = {f.id: f for f in facilities}
    added = []
    for number, (ident, device_type, facility, interval) in enumerate(EXTRA, start=0xA1):
        subnet = 1 if at[facility].district_id == "north" else 2
        address = IPv6Address(f"fd12:3456:789a:{subnet}::{number:x}")
        added.append(device_at(at[facility], ident, device_type, address, report_interval_s=interval))
    return base.model_copy(update={"facilities": facilities, "devices": [*base.devices, *added]})


def write_indicator_city(path: Path) -> Path:
    path.write_text(indicator_city().model_dump_json(indent=1), encoding="utf-8")
    return path


def lines_of(readings: list[Reading]) -> bytes:
    encoder = LineEncoder(DeviceDirectory.from_city(indicator_city()))
    return "\n".join(line for reading in readings for line in encoder.encode(reading)).encode()


def uneven(step_s: int, *, gap_h: tuple[int, int] | None = None, hours: int = 24, seed: int = 1) -> list[int]:
    """Offsets (s) into the day: steps of ``step_s`` give or take up to half of it, none in the ``gap_h`` hours."""
    offsets, at, index = [], 0, 0
    while at < hours * HOUR_S:
        if gap_h is None or not gap_h[0] * HOUR_S <= at < gap_h[1] * HOUR_S:
            offsets.append(at)
        index += 1
        at += step_s // 2 + (index * 7919 * seed) % step_s
    return offsets


Series = dict[str, list[tuple[int, dict[str, Value]]]]
"""device -> [(ts_ms, {metric: value})]."""


def _series(
    day_start: int, offsets: list[int], values: Callable[[int, int], dict[str, Value]]
) -> list[tuple[int, dict[str, Value]]]:
    return [(day_start + s * 1000, values(i, s)) for i, s in enumerate(offsets)]


def _light(dark_hours: range) -> Callable[[int, int], dict[str, Value]]:
    def values(_i: int, s: int) -> dict[str, Value]:
        hour = s // HOUR_S
        on = hour < 6 or hour >= 19
        power = 0.0 if not on or hour in dark_hours else 48.5
        return {"lamp_on": on, "dim_level": 100 if on else 0, "lamp_power": power}

    return values


def _meter(start: float, step: float, reset_at: int | None) -> Callable[[int, int], dict[str, Value]]:
    def values(i: int, _s: int) -> dict[str, Value]:
        if reset_at is not None and i >= reset_at:
            return {"power": 9.0, "energy": 0.4 + step * (i - reset_at)}
        return {"power": 9.0, "energy": start + step * i}

    return values


def day_of_readings(day_start: int) -> Series:
    """One local day's readings (the day starts at ``day_start``): uneven sampling everywhere, gaps of several
    hours on aq-n2, meter-s1, noise-n1 and bin-n2, a meter replaced (reset to a small value) on meter-n1."""
    return {
        "aq-n1": _series(
            day_start, uneven(300), lambda i, _s: {"pm25": round(8 + (i * 7.3) % 20, 3), "no2": 14 + (i * 5.9) % 30}
        ),
        "aq-n2": _series(
            day_start,
            uneven(600, gap_h=(9, 14), seed=3),
            lambda i, _s: {"pm25": round(8.1 + (i * 3.7) % 13, 3), "no2": 15 + (i * 4.1) % 20},
        ),
        "aq-s1": _series(
            day_start, uneven(900, seed=5), lambda i, _s: {"pm25": 3 + (i * 3.1) % 12, "no2": 20 + (i * 2.3) % 12}
        ),
        "noise-n1": _series(
            day_start,
            uneven(240, gap_h=(2, 4), seed=7),
            lambda i, s: {"laeq": round(40 + (s // HOUR_S % 5) * 2.5 + (i * 4.7) % 3, 2)},
        ),
        "meter-n1": _series(day_start, uneven(600, seed=11), _meter(100.0, 1.5, reset_at=40)),
        "meter-s1": _series(day_start, uneven(900, gap_h=(8, 11), seed=13), _meter(5_000.0, 3.0, reset_at=None)),
        "occ-n1": _series(day_start, uneven(300, seed=17), lambda i, _s: {"occupancy": 100 + (i * 37) % 250}),
        "occ-n2": _series(day_start, uneven(400, seed=19), lambda i, _s: {"occupancy": 90 + (i * 41) % 260}),
        "occ-s1": _series(day_start, uneven(300, seed=23), lambda i, _s: {"occupancy": (i * 53) % 200}),
        "occ-cp1": _series(day_start, uneven(300, seed=29), lambda i, _s: {"occupancy": (i * 29) % 90}),
        "occ-cp2": _series(day_start, uneven(500, seed=31), lambda i, _s: {"occupancy": (i * 31) % 95}),
        "light-n1": _series(day_start, uneven(300, seed=37), _light(range(0))),
        "light-n2": _series(day_start, uneven(300, seed=41), _light(range(1, 3))),
        "bin-n1": _series(day_start, uneven(900, seed=43), lambda i, _s: {"fill_level": round((i * 3.3) % 100, 2)}),
        "bin-n2": _series(
            day_start, uneven(900, gap_h=(12, 20), seed=47), lambda i, _s: {"fill_level": round((i * 6.1) % 100, 2)}
        ),
    }


def readings_of(series: Series) -> list[Reading]:
    return [Reading(device, None, ts, values) for device, points in series.items() for ts, values in points]
