"""Jittered exponential backoff, shared by the broker reconnect loop and InfluxDB write retries."""

from __future__ import annotations

import random


class Backoff:
    """Delays of ``base * 2**attempt`` capped at ``cap``, with full jitter (AWS architecture blog, "Exponential
    Backoff And Jitter"): many gateways that lost the same server do not come back in lock-step.
    Call :meth:`reset` after a success (for the broker: after a successful subscribe)."""

    def __init__(self, base_s: float = 0.1, cap_s: float = 30.0, *, rng: random.Random | None = None) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError(f"need 0 < base_s <= cap_s, got base_s={base_s}, cap_s={cap_s}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
