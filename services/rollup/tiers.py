"""Where roll-ups go: one retention policy per tier, created (or altered to the policy's duration) on 1.x, and
one InfluxDB client per policy for ``/write?rp=``.

On 2.x and 3.x retention lives on buckets: the statements fail there and the worker says which buckets to create
(``<db>/rp_1m`` ..., mapped through DBRP; docs/ROLLUPS.md).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from services.rollup.side_by_side import side_by_side
from smartcity.influx.client import InfluxClient, quote_identifier
from smartcity.influx.errors import InfluxQueryError, InfluxRejected
from smartcity.rollups import TIERS, RollupPolicy, Tier
from smartcity.settings import InfluxSettings

log = logging.getLogger(__name__)

WRITE_CHUNK = 10_000
"""Lines per write (an hour of a 10,000-device city is a quarter of a million minute points; 10,000 roll-up lines
are about 3 MB, well below the body limits of 1.x (25 MB) and 3.x (10 MiB))."""
WRITES_IN_FLIGHT = 2
"""Write requests at once, over all tiers: InfluxDB parses and indexes one request on about one core, so two
keep two of its cores busy while the worker folds the next measurement."""


async def ensure_retention(influx: InfluxClient, policy: RollupPolicy, *, apply_raw: bool) -> None:
    """Create each tier's retention policy, or alter it to the policy's duration; with ``apply_raw`` also set the
    database's default policy to ``policy.raw_days``."""
    db = quote_identifier(influx.settings.database)
    await influx.create_database()
    for tier in TIERS:
        name, duration = quote_identifier(tier.retention_policy), policy.influx_duration(tier)
        try:
            try:
                await influx.query(f"CREATE RETENTION POLICY {name} ON {db} DURATION {duration} REPLICATION 1")
            except InfluxQueryError as exc:
                if "already exists" not in str(exc):
                    raise
                await influx.query(f"ALTER RETENTION POLICY {name} ON {db} DURATION {duration}")
        except (InfluxQueryError, InfluxRejected) as exc:
            log.warning(
                "cannot manage retention policy %s (%s): on InfluxDB 2.x/3.x create bucket %s/%s (retention %s)",
                tier.retention_policy,
                exc,
                influx.settings.database,
                tier.retention_policy,
                duration,
            )
    if apply_raw:
        default = await _default_policy(influx)
        if default is not None:
            await influx.query(
                f"ALTER RETENTION POLICY {quote_identifier(default)} ON {db} DURATION {policy.raw_days}d"
            )
            log.info("raw retention (%s) set to %d days", default, policy.raw_days)


async def _default_policy(influx: InfluxClient) -> str | None:
    for series in await influx.query(f"SHOW RETENTION POLICIES ON {quote_identifier(influx.settings.database)}"):
        for row in series.records():
            if row.get("default") is True and isinstance(row.get("name"), str):
                return str(row["name"])
    return None


class TierClients:
    """One InfluxDB client per tier's retention policy (``/write?rp=<policy>``), owned by ``async with``; at most
    :data:`WRITES_IN_FLIGHT` requests at once across them."""

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        self._stack = AsyncExitStack()
        self._clients: dict[str, InfluxClient] = {}
        self._in_flight = asyncio.Semaphore(WRITES_IN_FLIGHT)

    async def __aenter__(self) -> Self:
        for tier in TIERS:
            settings = self._settings.model_copy(update={"retention_policy": tier.retention_policy})
            self._clients[tier.retention_policy] = await self._stack.enter_async_context(InfluxClient(settings))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def write_tier(self, tier: Tier, body: list[str]) -> None:
        """Write ``body`` in chunks of :data:`WRITE_CHUNK` lines, side by side; returns once every chunk is durable,
        raises the first failure (chunks not yet sent are not sent)."""
        client = self._clients[tier.retention_policy]

        async def write(chunk: list[str]) -> None:
            async with self._in_flight:
                await client.write("\n".join(chunk).encode())

        chunks = [body[start : start + WRITE_CHUNK] for start in range(0, len(body), WRITE_CHUNK)]
        if len(chunks) == 1:
            await write(chunks[0])
            return
        async with side_by_side() as group:
            for chunk in chunks:
                group.create_task(write(chunk))
