"""What a detector returns: a span of one condition on one device, before it becomes a stored flag."""

from __future__ import annotations

from dataclasses import dataclass

from smartcity.quality_flags import FlagKind


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition seen in the data: ``[start_ms, end_ms)``, ``end_ms`` None while it lasts at the newest data."""

    kind: FlagKind
    start_ms: int
    end_ms: int | None
    score: float
    reason: str
    metric: str = ""


@dataclass(frozen=True, slots=True)
class HourStat:
    """One device's hourly roll-up of one metric (``rp_1h``): the window start and its mean, min, max, count."""

    hour_ms: int
    mean: float
    low: float
    high: float
    count: int
