"""The expiry pass: points of datasets with a retention of their own, older than it, leave every tier.

Run by the roll-up worker every ``SMARTCITY_ROLLUP_EXPIRE_INTERVAL_S`` and by ``smartcity data expire``. Each
statement is one bound ``DELETE`` (:func:`services.lifecycle.holdings.expiry_statements`); deleting what is already
gone costs InfluxDB an index look-up, so running it often is cheap and a missed run is made up by the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from services.lifecycle.holdings import expiry_statements
from smartcity.influx.client import InfluxClient
from smartcity.influx.errors import InfluxError

log = logging.getLogger(__name__)


async def expire(influx: InfluxClient, now_ms: int | None = None) -> int:
    """Run every expiry statement once; returns how many ran."""
    statements = expiry_statements(int(time.time() * 1000) if now_ms is None else now_ms)
    for statement, params in statements:
        await influx.query(statement, params)
    return len(statements)


async def expire_every(influx: InfluxClient, interval_s: float, stop: asyncio.Event) -> None:
    """:func:`expire` at once and then every ``interval_s`` until ``stop``; a failure is logged and tried again at
    the next interval."""
    while not stop.is_set():
        try:
            ran = await expire(influx)
            log.info("expiry: %d datasets with a retention of their own checked", ran)
        except InfluxError as exc:
            log.warning("expiry failed (%s); trying again in %.0f s", exc, interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
