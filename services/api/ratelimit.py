"""Token buckets per client address for requests without a key (the public role).

Each client may make ``burst`` requests at once and ``rate`` per second after that; a refused request learns from
Retry-After when the next token arrives. Buckets of clients that went quiet are dropped, so memory stays bounded by
the number of clients seen within about ``burst / rate`` seconds (and by :data:`MAX_CLIENTS`).

:class:`RateLimiter` keeps the buckets in the process: right for one API process. Behind a load balancer with
several replicas each would grant the whole budget again, so replicas that share a PostgreSQL state database use
:class:`SharedRateLimiter`: the same bucket as one row of ``rate_buckets``, refilled and taken in one atomic
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (one round trip per request without a key; keyed requests never
reach it). Its clock is the replicas' wall clock in milliseconds (NTP keeps them within a few ms; a clock behind
refills nothing rather than going negative). While the database refuses (unreachable, failing over) each replica
falls back to a bucket of its own, so the limit loosens to one budget per replica instead of failing requests.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from services.api.statedb import DatabaseError, StateDatabase

log = logging.getLogger(__name__)

MAX_CLIENTS = 100_000
PRUNE_EVERY = 10_000
"""Takes between two sweeps of the shared buckets that have refilled (those rows say nothing a new row would not)."""


class PublicLimiter(Protocol):
    """What the API asks before serving a request without a key."""

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0.0 when allowed, else the seconds until one is available."""
        ...


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


_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS rate_buckets (
        client TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        at_ms INTEGER NOT NULL,
        taken BOOLEAN NOT NULL
    )
    """,
)
_LEAST = {"sqlite": "min", "postgresql": "LEAST"}
_GREATEST = {"sqlite": "max", "postgresql": "GREATEST"}


def _take_sql(dialect: str) -> str:
    least, greatest = _LEAST[dialect], _GREATEST[dialect]
    refilled = f"{least}(?, rate_buckets.tokens + {greatest}(0, excluded.at_ms - rate_buckets.at_ms) * ? / 1000.0)"
    return (
        "INSERT INTO rate_buckets (client, tokens, at_ms, taken) VALUES (?, ?, ?, TRUE)"
        f" ON CONFLICT (client) DO UPDATE SET"
        f" tokens = CASE WHEN {refilled} >= 1 THEN {refilled} - 1 ELSE {refilled} END,"
        f" taken = {refilled} >= 1,"
        " at_ms = excluded.at_ms"
        " RETURNING tokens, taken"
    )


class SharedRateLimiter:
    """Token buckets in the shared state database: one budget per client across every API replica."""

    def __init__(self, db: StateDatabase, rate: float, burst: int, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._sql = _take_sql(db.dialect)
        self._takes = 0
        self._fallback = RateLimiter(rate, burst, clock=clock)
        self._degraded = False
        db.create(_SCHEMA)

    def take(self, client: str) -> float:
        now_ms = int(self._clock() * 1000)
        self._takes += 1
        if self._takes % PRUNE_EVERY == 0:
            self.prune(now_ms)
        refill = (self._burst, self._rate) * 4  # the refilled level appears four times in the statement
        try:
            row = self._db.execute(self._sql, (client, self._burst - 1.0, now_ms, *refill)).fetchone()
        except DatabaseError as exc:
            if not self._degraded:
                log.warning("rate limits: %s refused the shared buckets, counting per replica: %s", self._db.where, exc)
            self._degraded = True
            return self._fallback.take(client)
        if self._degraded:
            log.warning("rate limits: shared buckets in %s again", self._db.where)
            self._degraded = False
        tokens, taken = float(row[0]), bool(row[1])
        return 0.0 if taken else (1.0 - tokens) / self._rate

    def prune(self, now_ms: int) -> int:
        """Forget the buckets that have been full for a while; returns how many."""
        full_after_ms = int(self._burst / self._rate * 1000) + 1000
        try:
            return self._db.execute("DELETE FROM rate_buckets WHERE at_ms < ?", (now_ms - full_after_ms,)).rowcount
        except DatabaseError as exc:  # a sweep that fails is retried at the next one
            log.warning("rate limits: old buckets not removed from %s: %s", self._db.where, exc)
            return 0


def retry_after(seconds: float) -> str:
    """Retry-After in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
