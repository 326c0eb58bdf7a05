"""Token buckets per client address for requests without a key (the public role).

Each client may make ``burst`` requests at once and ``rate`` per second after that; a refused request learns from
Retry-After when the next token arrives. Buckets of clients that went quiet are dropped, so memory stays bounded by
the number of clients seen within about ``burst / rate`` seconds (and by :data:`MAX_CLIENTS`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

MAX_CLIENTS = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """Client -> (tokens, time they were counted)."""

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, then = self._buckets.get(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens >= 1.0:
            self._store(client, tokens - 1.0, now)
            return 0.0
        self._store(client, tokens, now)
        return (1.0 - tokens) / self._rate

    def _store(self, client: str, tokens: float, now: float) -> None:
        if len(self._buckets) >= MAX_CLIENTS and client not in self._buckets:
            full_after = self._burst / self._rate
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
            if len(self._buckets) >= MAX_CLIENTS:  # that many clients at once: start every bucket afresh
                self._buckets.clear()
        self._buckets[client] = (tokens, now)


def retry_after(seconds: float) -> str:
    """Retry-After in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
