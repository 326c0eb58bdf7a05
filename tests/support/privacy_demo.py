"""A realistic occupancy release of a generated city: people present per district x facility kind x window of one
local day, each facility's hourly mean from the simulator's occupancy rhythm (``devices.drivers``) times its
capacity, and the facility counts of the city model."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from devices.drivers import LocalClock, occupancy_share
from services.opendata.privacy import InputCell, PrivacyPolicy
from services.opendata.privacy import windows as win
from smartcity.city.generate import generate_city
from smartcity.city.model import City
from smartcity.up import UpSettings

DEMO_DAY = date(2025, 3, 12)
"""A Wednesday: schools and libraries open."""
_SAMPLE_MS = 300_000


def demo_city(devices: int | None = None) -> City:
    """The city ``smartcity up`` generates by default (or one of ``devices`` devices with the same seed)."""
    defaults = UpSettings.model_fields
    count = devices if devices is not None else defaults["devices"].default
    return generate_city(devices=count, seed=defaults["seed"].default)


def day_start_ms(city: City, day: date = DEMO_DAY) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(city.timezone)).timestamp() * 1000)


def occupancy_cells(city: City, policy: PrivacyPolicy, period_start_ms: int) -> list[InputCell]:
    """Every district x kind x window cell of the policy's grid for the period starting at ``period_start_ms``."""
    clock = LocalClock(city.timezone)
    period = win.aligned_period(policy.period, city.timezone, period_start_ms)
    windows = win.windows(policy.window, city.timezone, period)
    kinds = {kind.value for kind in policy.kinds}
    present: dict[tuple[str, str, int], float] = defaultdict(float)
    facilities: dict[tuple[str, str], int] = defaultdict(int)
    for facility in city.facilities:
        if facility.kind.value not in kinds:
            continue
        facilities[(facility.district_id, facility.kind.value)] += 1
        capacity = facility.capacity or 100
        for start, end in windows:
            samples = range(start, end, _SAMPLE_MS)
            mean = sum(occupancy_share(facility.kind, clock.at(t / 1000), 10.0) for t in samples) / len(samples)
            present[(facility.district_id, facility.kind.value, start)] += capacity * mean
    return [
        InputCell(
            district.id,
            kind,
            start,
            Fraction(round(present[(district.id, kind, start)] * 100), 100),
            facilities[(district.id, kind)],
        )
        for district in city.districts
        for kind in sorted(kinds)
        for start, _ in windows
    ]
