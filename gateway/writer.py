"""Writing batches to InfluxDB: retries with jittered backoff, 413 splits, 400 bisection.

InfluxDB's answers decide what happens (see docs/GATEWAY.md, "Failure handling"):

- 204: durable.
- 5xx, 429, 404, timeouts, connection errors (:class:`InfluxUnavailable`), 401/403 and anything unexpected:
  retried with backoff for ``retry_s``, then :class:`StoreDown` is raised and the caller spools the batch.
- 413 (:class:`InfluxTooLarge`): the batch is split in halves until it fits.
- 400 (:class:`InfluxRejected`, a partial write: InfluxDB 1.x kept the valid points): the batch is bisected and
  re-written to find the refused points, which come back as :class:`StoreRejection`. Re-writing is idempotent because
  every point's timestamp comes from the device.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.backoff import Backoff
from gateway.metrics import GatewayMetrics
from smartcity.influx.errors import InfluxError, InfluxRejected, InfluxTooLarge, InfluxUnavailable

log = logging.getLogger(__name__)


class PointStore(Protocol):
    """Where points go: InfluxDB's ``/write`` in production, an in-memory twin in unit tests."""

    async def write(self, body: bytes) -> None:
        """Write line protocol (ms precision); raise :mod:`smartcity.influx.errors` exceptions."""
        ...


class StoreDown(Exception):
    """The store kept failing for the whole retry window: spool the batch."""


@dataclass(frozen=True, slots=True)
class StoreRejection:
    """A point InfluxDB refused, with its answer."""

    line: str
    topic: str
    message: str


def encode_body(lines: Sequence[str]) -> bytes:
    return "\n".join(lines).encode()


class BatchWriter:
    """Makes a batch's points land in the store, or raises :class:`StoreDown`."""

    def __init__(
        self,
        store: PointStore,
        metrics: GatewayMetrics,
        *,
        retry_s: float,
        backoff: Callable[[], Backoff] = lambda: Backoff(0.05, 2.0),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._retry_s = retry_s
        self._backoff = backoff
        self._sleep = sleep

    async def write(self, lines: Sequence[str], topics: Sequence[str]) -> list[StoreRejection]:
        """Write every line; return the ones the store refused (all others are durable)."""
        rejections: list[StoreRejection] = []
        await self._write(lines, topics, rejections)
        return rejections

    async def _write(self, lines: Sequence[str], topics: Sequence[str], out: list[StoreRejection]) -> None:
        if not lines:
            return
        try:
            await self._write_with_retry(encode_body(lines))
        except InfluxTooLarge as exc:
            if len(lines) == 1:
                out.append(StoreRejection(lines[0], topics[0], f"point too large for InfluxDB: {exc.message}"))
                return
            log.warning("InfluxDB refused %d points as too large (413): splitting the batch", len(lines))
            await self._halves(lines, topics, out)
        except InfluxRejected as exc:
            if len(lines) == 1:
                out.append(StoreRejection(lines[0], topics[0], exc.message))
                return
            log.warning("InfluxDB refused part of a batch of %d points (400: %s): bisecting", len(lines), exc.message)
            await self._halves(lines, topics, out)

    async def _halves(self, lines: Sequence[str], topics: Sequence[str], out: list[StoreRejection]) -> None:
        middle = len(lines) // 2
        await self._write(lines[:middle], topics[:middle], out)
        await self._write(lines[middle:], topics[middle:], out)

    async def _write_with_retry(self, body: bytes) -> None:
        backoff = self._backoff()
        deadline = time.monotonic() + self._retry_s
        while True:
            try:
                await self._store.write(body)
                return
            except (InfluxRejected, InfluxTooLarge):
                raise
            except InfluxError as exc:  # unavailable, auth, anything unexpected: keep the data, retry, then spool
                retry_after = exc.retry_after_s if isinstance(exc, InfluxUnavailable) else None
                retry_after = retry_after or 0.0
                delay = max(backoff.next_delay(), retry_after)
                if time.monotonic() + delay > deadline:
                    raise StoreDown(exc.message) from exc
                self._metrics.write_retries.inc()
                log.warning("InfluxDB write failed (%s), retrying in %.2f s", exc.message, delay)
                await self._sleep(delay)
