"""What a detector returns: a span of one condition on one device, before it becomes a stored flag."""

from __future__ import annotations

from collections.abc import Sequence
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
    basis: tuple[float, ...] = ()
    """What the detector judged against, kept with the flag (a drift's gain, baseline and scale)."""


@dataclass(frozen=True, slots=True)
class HourStat:
    """One device's hourly roll-up of one metric (``rp_1h``): the window start and its mean, min, max, count."""

    hour_ms: int
    mean: float
    low: float
    high: float
    count: int


_STEPS = (1.0, 0.5, 0.1, 0.01)


def reading_step(hours: Sequence[HourStat]) -> float:
    """The coarsest step every hourly minimum and maximum is a multiple of: a count's 1, a radio's half units,
    a display's tenths; 0.01 at the finest."""
    values = [v for h in hours for v in (h.low, h.high)]
    for step in _STEPS:
        if all(abs(v / step - round(v / step)) < 1e-6 for v in values):
            return step
    return _STEPS[-1]
