"""Proof that the API benchmark's data builder writes what the roll-up worker would.

For a sample of devices (one of each type in the minute district, one of each type elsewhere), their readings are
written as raw points to a scratch database and the real worker computes some hours (``compute_hour``) and a
local day (``compute_day``, from the builder's hour points) with a recording writer. The worker's lines must
equal the builder's: minutes and hours byte for byte; days with every name, tag, time and count equal and the
float fields within 1e-12 relative, because InfluxDB adds a day's hour sums shard by shard when the day spans two
shard groups (rounding in the last bit), where the builder adds them in one run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from services.rollup.aggregate import Windows
from services.rollup.compute import compute_day, compute_hour
from services.rollup.tiers import TierClients, ensure_retention
from smartcity.city.directory import DeviceDirectory
from smartcity.city.model import City, Device
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.rollups import DAY, HOUR, MINUTE, TIERS, LocalDays, RollupPolicy, Tier
from smartcity.settings import InfluxSettings
from tests.support.city_signals import HOUR_MS, CitySignals
from tests.support.fast_rollups import DayOf, DeviceData, Layout, Tags, between, device_data, tier_lines

REGISTER_LOOKBACK_MS = 86_400_000
"""The worker's default ``REGISTER_LOOKBACK_S`` (a day)."""
_DAY_REL_TOL = 1e-12


class RollupMismatch(AssertionError):
    """The builder's roll-up points differ from the worker's."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    devices: int
    hours: tuple[int, ...]
    day: tuple[int, int]
    minute_points: int
    hour_points: int
    day_points: int


class _Recorder:
    """A ``TierWriter`` that keeps the lines instead of writing them."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {tier.retention_policy: [] for tier in TIERS}

    async def write_tier(self, tier: Tier, body: list[str]) -> None:
        self.lines[tier.retention_policy].extend(body)


def sample_devices(city: City, minute_district: str) -> list[Device]:
    """The first device of each type in the minute district, and the first of each type elsewhere."""
    chosen: dict[tuple[bool, str], Device] = {}
    for device in city.devices:
        chosen.setdefault((device.district_id == minute_district, device.type.value), device)
    return [chosen[key] for key in sorted(chosen)]


def check_hours(layout: Layout) -> tuple[int, ...]:
    """The first hour (hourly readings), one in the minute span (report intervals in the minute district) and the
    hour rolled up from raw points (report intervals everywhere, vitals included)."""
    middle = max(layout.start_ms, layout.minute_from_ms + (layout.rolled_to_ms - layout.minute_from_ms) // 2)
    hours = {layout.start_ms, middle // HOUR_MS * HOUR_MS}
    if layout.raw_from_ms < layout.rolled_to_ms:
        hours.add(layout.raw_from_ms)
    return tuple(sorted(hours))


async def check_against_worker(
    influx: InfluxSettings,
    city: City,
    layout: Layout,
    signals: CitySignals,
    tags: dict[str, Tags],
    day_of: DayOf,
    devices: Sequence[Device],
) -> CheckResult:
    """Compute :func:`check_hours` and the last whole day of ``layout`` with the worker in a scratch database
    next to ``influx.database`` (dropped afterwards) and compare; raises :class:`RollupMismatch`."""
    data = {device.id: device_data(signals, device, layout, tags[device.id], day_of) for device in devices}
    hours = check_hours(layout)
    day = LocalDays(city.timezone).day_of(layout.days_to_ms - 1)
    scratch = influx.model_copy(update={"database": f"{influx.database}_check", "timeout_s": 60.0})
    counts = {MINUTE.name: 0, HOUR.name: 0, DAY.name: 0}
    async with InfluxClient(scratch) as client, TierClients(scratch) as tier_writer:
        await client.drop_database()
        await ensure_retention(client, RollupPolicy(), apply_raw=False)
        try:
            encoder = LineEncoder(DeviceDirectory.from_city(city))
            low, high = hours[0] - REGISTER_LOOKBACK_MS, hours[-1] + HOUR_MS
            raw = [
                line
                for one in data.values()
                for reading in one.readings
                if low <= reading.ts_ms < high
                for line in encoder.encode(reading)
            ]
            for start in range(0, len(raw), 5_000):
                await client.write("\n".join(raw[start : start + 5_000]).encode())
            for hour in hours:
                recorder = _Recorder()
                await compute_hour(client, recorder, hour, register_lookback_ms=REGISTER_LOOKBACK_MS)
                for tier, of in ((MINUTE, _minutes), (HOUR, _hours)):
                    ours = tier_lines(_union(data.values(), of, hour, hour + HOUR_MS))
                    _same(f"{tier.name.value} {hour}", recorder.lines[tier.retention_policy], ours, exact=True)
                    counts[tier.name] += len(ours)
            await tier_writer.write_tier(HOUR, tier_lines(_union(data.values(), _hours, *day)))
            recorder = _Recorder()
            await compute_day(client, recorder, scratch.database, *day)
            ours = tier_lines(_union(data.values(), _days, *day))
            _same(f"1d {day[0]}", recorder.lines[DAY.retention_policy], ours, exact=False)
            counts[DAY.name] += len(ours)
        finally:
            await client.drop_database()
    return CheckResult(len(devices), hours, day, counts[MINUTE.name], counts[HOUR.name], counts[DAY.name])


def _union(data: Iterable[DeviceData], of: Callable[[DeviceData], Windows], low: int, high: int) -> Windows:
    """The windows in ``[low, high)`` of every device (their series are distinct)."""
    windows: Windows = {}
    for one in data:
        windows |= between(of(one), low, high)
    return windows


def _minutes(data: DeviceData) -> Windows:
    return data.minutes


def _hours(data: DeviceData) -> Windows:
    return data.hours


def _days(data: DeviceData) -> Windows:
    return data.days


def _same(what: str, worker: list[str], ours: list[str], *, exact: bool) -> None:
    """The same points (the worker writes its measurements side by side, so the order of its writes is not part of
    what it writes): paired by series and time, equal as text, or for days within the float tolerance."""
    if not worker:
        raise RollupMismatch(f"{what}: the worker wrote nothing (is the raw sample there?)")
    if len(worker) != len(ours):
        raise RollupMismatch(f"{what}: the worker wrote {len(worker)} lines, the builder {len(ours)}")
    for theirs, mine in zip(sorted(worker, key=_identity), sorted(ours, key=_identity), strict=True):
        if theirs != mine and (exact or not _close(theirs, mine)):
            raise RollupMismatch(f"{what}: the worker wrote\n  {theirs}\nthe builder\n  {mine}")


def _identity(line: str) -> tuple[str, int]:
    """A roll-up line's series and time (roll-ups have no string fields: ``head fields time``)."""
    head, _fields, ts = line.rsplit(" ", 2)
    return head, int(ts)


def _close(a: str, b: str) -> bool:
    """Same series, time and fields, integers equal, floats within :data:`_DAY_REL_TOL` (roll-ups have no
    string fields, so a line is ``head fields time`` split at its last two spaces)."""
    head_a, fields_a, time_a = a.rsplit(" ", 2)
    head_b, fields_b, time_b = b.rsplit(" ", 2)
    if (head_a, time_a) != (head_b, time_b):
        return False
    pairs_a = [item.split("=", 1) for item in fields_a.split(",")]
    pairs_b = [item.split("=", 1) for item in fields_b.split(",")]
    if [k for k, _ in pairs_a] != [k for k, _ in pairs_b]:
        return False
    for (_, x), (_, y) in zip(pairs_a, pairs_b, strict=True):
        if x.endswith("i") or y.endswith("i"):
            if x != y:
                return False
        elif not math.isclose(float(x), float(y), rel_tol=_DAY_REL_TOL):
            return False
    return True
