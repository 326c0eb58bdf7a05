"""The arithmetic of indicators, without I/O: from roll-up totals (one row per device) and window sums (one row per
window and group or facility) to one value per group. One function per :class:`~.definitions.Method`; the
formulas in words are the definitions' ``formula`` texts and docs/API.md.

Means are always ``sum of sums / sum of counts``, so a group's mean is the mean of every reading in it, exactly
as ``/v1/history`` computes it. Which group a device or facility belongs to comes from the city model
(:class:`Membership`), never from what a client sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.api.indicators.statements import Totals, WindowSums, alias
from smartcity.health import DeviceHealth


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One group's answer."""

    group: str
    value: float | None
    """None: no data in the period."""
    windows: int
    """Source windows used: the group's hours (or days) judged for counts of windows above a threshold, the
    devices' hourly roll-ups for the others, the health records for ``reading_delivery``."""
    devices: int
    facilities: int | None = None
    at_ms: int | None = None
    """Peaks only: the start of the hour the value belongs to."""


@dataclass(slots=True)
class Membership:
    """The devices and facilities an answer covers and the group of each (from the city model)."""

    device_group: dict[str, str] = field(default_factory=dict)
    device_facility: dict[str, str] = field(default_factory=dict)
    facility_group: dict[str, str] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        return sorted(set(self.device_group.values()))

    def devices_of(self, group: str) -> list[str]:
        return sorted(d for d, g in self.device_group.items() if g == group)


def _n(row: Mapping[str, float] | None, column: str) -> float:
    return row.get(column, 0.0) if row else 0.0


def _usage(devices: Totals, members: list[str], windows_column: str) -> tuple[int, int]:
    """(windows, devices with any) of the members' rows."""
    counts = [int(_n(devices.get(d), windows_column)) for d in members]
    return sum(counts), sum(1 for c in counts if c > 0)


def windows_above(
    windows: WindowSums,
    devices: Totals,
    members: Membership,
    metric: str,
    threshold: float,
    keep: Callable[[int], bool] = lambda _start: True,
) -> list[GroupResult]:
    """Per group: the windows (that ``keep`` keeps) whose mean over the group's readings is above ``threshold``."""
    total, count = alias("sum", f"{metric}_sum"), alias("sum", f"{metric}_count")
    out = []
    for group in members.groups:
        means = [
            row[total] / row[count]
            for start, row in windows.get(group, {}).items()
            if keep(start) and _n(row, count) > 0 and total in row
        ]
        _windows, used = _usage(devices, members.devices_of(group), alias("count", f"{metric}_count"))
        value = float(sum(1 for mean in means if mean > threshold)) if means else None
        out.append(GroupResult(group, value, len(means), used))
    return out


def mean(devices: Totals, members: Membership, metric: str) -> list[GroupResult]:
    """Per group: the mean of every reading (sum of sums over sum of counts)."""
    total, count = alias("sum", f"{metric}_sum"), alias("sum", f"{metric}_count")
    out = []
    for group in members.groups:
        rows = [devices.get(d) for d in members.devices_of(group)]
        readings = sum(_n(row, count) for row in rows)
        windows, used = _usage(devices, members.devices_of(group), alias("count", f"{metric}_count"))
        value = sum(_n(row, total) for row in rows) / readings if readings else None
        out.append(GroupResult(group, value, windows, used))
    return out


def _facility_sums(devices: Totals, members: Membership, columns: tuple[str, ...]) -> dict[str, list[float]]:
    sums: dict[str, list[float]] = {}
    for device, facility in members.device_facility.items():
        row = devices.get(device)
        if row:
            held = sums.setdefault(facility, [0.0] * len(columns))
            for index, column in enumerate(columns):
                held[index] += _n(row, column)
    return sums


def per_capacity(devices: Totals, members: Membership, metric: str, capacity: Mapping[str, int]) -> list[GroupResult]:
    """Per group: 100 x the sum of the facilities' means over the sum of their capacities."""
    total, count = alias("sum", f"{metric}_sum"), alias("sum", f"{metric}_count")
    by_facility = _facility_sums(devices, members, (total, count))
    out = []
    for group in members.groups:
        judged = [
            (s / c, capacity[f])
            for f, (s, c) in by_facility.items()
            if members.facility_group.get(f) == group and c > 0 and capacity.get(f)
        ]
        windows, used = _usage(devices, members.devices_of(group), alias("count", f"{metric}_count"))
        seats = sum(cap for _mean, cap in judged)
        value = 100 * sum(m for m, _cap in judged) / seats if seats else None
        out.append(GroupResult(group, value, windows, used, facilities=len(judged)))
    return out


def peak_per_capacity(
    windows: WindowSums, devices: Totals, members: Membership, metric: str, capacity: Mapping[str, int]
) -> list[GroupResult]:
    """Per group: the hour with the highest 100 x sum of the facilities' hourly means over the sum of the
    capacities of the facilities with data in that hour (the earliest such hour on a tie)."""
    total, count = alias("sum", f"{metric}_sum"), alias("sum", f"{metric}_count")
    out = []
    for group in members.groups:
        hours: dict[int, list[float]] = {}
        seen: set[str] = set()
        for facility, by_start in windows.items():
            if members.facility_group.get(facility) != group or not capacity.get(facility):
                continue
            for start, row in by_start.items():
                if _n(row, count) > 0:
                    held = hours.setdefault(start, [0.0, 0.0])
                    held[0] += row.get(total, 0.0) / row[count]
                    held[1] += capacity[facility]
                    seen.add(facility)
        shares = sorted((-100 * present / seats, start) for start, (present, seats) in hours.items())
        device_windows, used = _usage(devices, members.devices_of(group), alias("count", f"{metric}_count"))
        value, at = (-shares[0][0], shares[0][1]) if shares else (None, None)
        out.append(GroupResult(group, value, device_windows, used, facilities=len(seen), at_ms=at))
    return out


def per_floor_area(devices: Totals, members: Membership, metric: str, area: Mapping[str, float]) -> list[GroupResult]:
    """Per group: the meters' register increases over the floor areas of the buildings they belong to."""
    increase, windows_column = alias("sum", f"{metric}_increase"), alias("count", f"{metric}_increase")
    by_facility = _facility_sums(devices, members, (increase, windows_column))
    out = []
    for group in members.groups:
        judged = [
            (used, area[f])
            for f, (used, windows) in by_facility.items()
            if members.facility_group.get(f) == group and windows > 0 and area.get(f)
        ]
        windows, used_devices = _usage(devices, members.devices_of(group), windows_column)
        floor = sum(a for _used, a in judged)
        value = sum(u for u, _a in judged) / floor if floor else None
        out.append(GroupResult(group, value, windows, used_devices, facilities=len(judged)))
    return out


def lights_working(devices: Totals, dark: Totals, members: Membership) -> list[GroupResult]:
    """Per group: 100 x the lights that reported and were never dark while switched on, over all its lights."""
    hours, power = alias("count", "dim_level_count"), alias("min", "lamp_power_max")
    out = []
    for group in members.groups:
        lights = members.devices_of(group)
        working = [
            d for d in lights if _n(devices.get(d), hours) > 0 and not (d in dark and dark[d].get(power, 1.0) <= 0)
        ]
        windows = sum(int(_n(devices.get(d), hours)) for d in lights)
        out.append(GroupResult(group, 100 * len(working) / len(lights) if lights else None, windows, len(lights)))
    return out


def _largest(row: Mapping[str, float] | None, prefix: str) -> float:
    return max((v for k, v in row.items() if k.startswith(prefix)), default=0.0) if row else 0.0


def expected_share(
    devices: Totals, members: Membership, expected: Mapping[str, float], *, readings: bool
) -> list[GroupResult]:
    """Per group: 100 x sum of min(observed, expected) over sum of expected, every device of the group judged.
    Observed per device: its hours with a roll-up (the largest ``COUNT`` over its metrics), or with ``readings``
    its readings (the largest ``SUM`` of counts)."""
    prefix = "sum_" if readings else "count_"
    out = []
    for group in members.groups:
        members_of = members.devices_of(group)
        promised = sum(expected.get(d, 0.0) for d in members_of)
        got = sum(min(_largest(devices.get(d), prefix), expected.get(d, 0.0)) for d in members_of)
        windows = sum(int(_largest(devices.get(d), "count_")) for d in members_of)
        out.append(GroupResult(group, 100 * got / promised if promised else None, windows, len(members_of)))
    return out


def quality(
    complete: list[GroupResult], distrusted: Mapping[str, int], members: Membership, span_ms: int
) -> list[GroupResult]:
    """Per group: its completeness (``complete``, a percentage) times trust, 1 - the members' distrusted
    device-time over members x ``span_ms``."""
    out = []
    for result in complete:
        members_of = members.devices_of(result.group)
        if result.value is None or not members_of or span_ms <= 0:
            out.append(result)
            continue
        trust = 1 - sum(distrusted.get(d, 0) for d in members_of) / (len(members_of) * span_ms)
        out.append(GroupResult(result.group, result.value * max(0.0, trust), result.windows, result.devices))
    return out


def delivery(
    before: Mapping[str, DeviceHealth],
    until: Mapping[str, DeviceHealth],
    members: Membership,
    records: Mapping[str, int],
) -> list[GroupResult]:
    """Per group: 100 x readings received over readings sent in the period, from the change of the merged health
    between the records before start (``before``) and before end (``until``); ``records`` counts the replica
    records read per device."""
    out = []
    for group in members.groups:
        received = gaps = used = 0
        windows = sum(records.get(d, 0) for d in members.devices_of(group))
        for device in members.devices_of(group):
            now = until.get(device)
            if now is None:
                continue
            then = before.get(device)
            got = now.readings - (then.readings if then else 0)
            lost = now.gaps - (then.gaps if then else 0)
            if got or lost:
                used += 1
            received, gaps = received + got, gaps + lost
        sent = received + max(0, gaps)
        out.append(GroupResult(group, 100 * received / sent if sent > 0 else None, windows, used))
    return out
