"""The API's view of the quality worker's flags (``quality_flag``, :mod:`smartcity.quality_flags`): the flags over
a period, which devices an indicator leaves out because of them, and how much of a group's device-time they
cover (the trust half of the quality score).

Indicators leave out, by default, every device with a flag that distrusts its values (stuck, spike, drift)
overlapping the period: the roll-ups keep no per-reading marks, so the device is left out for the whole period
rather than reading by reading. Offline, gaps, duplicates, skew and battery flags leave nothing out (what did
arrive is trusted), and are counted only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from smartcity.quality_flags import Flag, FlagReader, read_flags

FLAG_MEMORY_MS = 35 * 86_400_000
"""Flags that started this long before a period are still looked at (a stuck sensor may stay stuck for weeks)."""


async def flags_over(
    store: FlagReader,
    start_ms: int,
    end_ms: int,
    *,
    district: str | None = None,
    facility: str | None = None,
    device: str | None = None,
) -> list[Flag]:
    """Flags overlapping ``[start_ms, end_ms)`` (open ones included), oldest first."""
    found = await read_flags(
        store, since_ms=start_ms - FLAG_MEMORY_MS, until_ms=end_ms, district=district, facility=facility, device=device
    )
    return [flag for flag in found if flag.overlaps(start_ms, end_ms)]


@dataclass(frozen=True, slots=True)
class Exclusion:
    """What an indicator answer left out because of flags, and why."""

    include_flagged: bool
    members: int
    """Devices the indicator covers in the selection."""
    excluded: tuple[str, ...]
    """Devices left out (sorted); empty with ``include_flagged``."""
    flagged: int
    """Devices with any flag in the period."""
    by_kind: dict[str, int]
    """Devices with a flag of each kind in the period."""

    def body(self) -> dict[str, Any]:
        return {
            "include_flagged": self.include_flagged,
            "devices": len(self.excluded),
            "of_devices": self.members,
            "share": round(len(self.excluded) / self.members, 4) if self.members else 0.0,
            "flagged_devices": self.flagged,
            "by_kind": dict(sorted(self.by_kind.items())),
            "reason": "devices with a stuck, spike or drift flag in the period are left out"
            if not self.include_flagged
            else "flagged data included as asked (include_flagged=true)",
        }


def exclusion(flags: Iterable[Flag], members: Sequence[str], *, include_flagged: bool) -> Exclusion:
    """The devices among ``members`` that ``flags`` leave out."""
    chosen = set(members)
    kinds: dict[str, set[str]] = {}
    distrusted: set[str] = set()
    for flag in flags:
        if flag.device not in chosen:
            continue
        kinds.setdefault(flag.kind.value, set()).add(flag.device)
        if flag.kind.distrusts_values:
            distrusted.add(flag.device)
    flagged = {device for devices in kinds.values() for device in devices}
    return Exclusion(
        include_flagged=include_flagged,
        members=len(chosen),
        excluded=() if include_flagged else tuple(sorted(distrusted)),
        flagged=len(flagged),
        by_kind={kind: len(devices) for kind, devices in kinds.items()},
    )


def distrusted_ms(flags: Iterable[Flag], start_ms: int, end_ms: int, report_ms: dict[str, int]) -> Counter[str]:
    """Per device, the time within ``[start_ms, end_ms)`` under a flag that distrusts its values (overlapping
    flags counted once); a spike counts one report interval."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for flag in flags:
        if not flag.kind.distrusts_values:
            continue
        low = max(start_ms, flag.start_ms)
        high = end_ms if flag.open else min(end_ms, max(flag.end_ms, flag.start_ms + report_ms.get(flag.device, 0)))
        if high > low:
            spans.setdefault(flag.device, []).append((low, high))
    covered: Counter[str] = Counter()
    for device, pieces in spans.items():
        reach = start_ms
        for low, high in sorted(pieces):
            low = max(low, reach)
            if high > low:
                covered[device] += high - low
                reach = high
    return covered
