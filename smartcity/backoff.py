"""Jittered exponential backoff, the one used by every reconnect and retry loop of the platform (the gateway's
broker and InfluxDB loops, the simulator's device sessions and network server).

Full jitter (AWS architecture blog, "Exponential Backoff And Jitter") above a floor: attempt ``n`` waits a uniform
delay in ``[base_s, min(cap_s, base_s * 2**n)]``, so many clients that lost the same server do not come back in
lock-step, and none retries sooner than ``base_s``.
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """The delay before retry number ``attempt`` (0 for the first)."""
    ceiling = min(cap_s, base_s * 2 ** min(attempt, 32))
    return rng.uniform(base_s, max(base_s, ceiling))


class Backoff:
    """Counts failed attempts; :meth:`next_delay` gives the next delay, :meth:`reset` starts over after a success."""

    def __init__(self, base_s: float = 0.1, cap_s: float = 30.0, *, rng: random.Random | None = None) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError(f"need 0 < base_s <= cap_s, got base_s={base_s}, cap_s={cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        delay = backoff_delay(self.attempt, self.base_s, self.cap_s, self._rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
