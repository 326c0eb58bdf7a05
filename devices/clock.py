"""Simulated time: a start instant, a speed, and an optional backfill phase that races through the past.

Device timestamps always come from this clock, never from the wall clock directly, so that a run is
reproducible from (seed, start time) and ``--speed`` / ``--backfill`` change only how fast time passes.

With ``backfill_s`` > 0 the clock starts ``backfill_s`` before ``start_ms`` and runs ``backfill_speed`` times
faster than the wall clock until it reaches ``start_ms``; from then on it runs at ``speed``. A speed above 1
moves device time ahead of the real time (documented in docs/SIMULATOR.md: the gateway's future window must
allow for it, or combine ``--speed`` with a start in the past).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from smartcity.durations import parse_duration

__all__ = ["SimClock", "now_ms", "parse_duration"]


@dataclass(slots=True)
class SimClock:
    """Maps wall time (``time.monotonic()``) to simulated epoch milliseconds."""

    start_ms: int
    """Simulated instant at which live simulation begins (after any backfill)."""
    speed: float = 1.0
    backfill_s: float = 0.0
    backfill_speed: float = 3600.0
    """Simulated seconds per wall second while backfilling (the rate limit then paces publishing)."""
    _wall0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.speed <= 0 or self.backfill_speed <= 0:
            raise ValueError("clock speeds must be positive")
        if self.backfill_s < 0:
            raise ValueError("backfill must not be negative")

    @property
    def origin_ms(self) -> int:
        """The first simulated instant (``start_ms`` minus the backfill)."""
        return self.start_ms - int(self.backfill_s * 1000)

    @property
    def backfill_wall_s(self) -> float:
        """Wall seconds the backfill phase lasts."""
        return self.backfill_s / self.backfill_speed

    def sim_ms(self, wall: float | None = None) -> int:
        """Simulated epoch milliseconds at wall instant ``wall`` (now by default)."""
        elapsed = (time.monotonic() if wall is None else wall) - self._wall0
        catch_up = self.backfill_wall_s
        if elapsed < catch_up:
            return self.origin_ms + int(elapsed * self.backfill_speed * 1000)
        return self.start_ms + int((elapsed - catch_up) * self.speed * 1000)

    def wall_at(self, sim_ms: int) -> float:
        """The wall instant (``time.monotonic()`` scale) at which the clock shows ``sim_ms``."""
        if sim_ms < self.start_ms:
            return self._wall0 + max(0, sim_ms - self.origin_ms) / 1000 / self.backfill_speed
        return self._wall0 + self.backfill_wall_s + (sim_ms - self.start_ms) / 1000 / self.speed

    def in_backfill(self, wall: float | None = None) -> bool:
        return ((time.monotonic() if wall is None else wall) - self._wall0) < self.backfill_wall_s


def now_ms() -> int:
    """Real epoch milliseconds (the default start of a run)."""
    return time.time_ns() // 1_000_000
