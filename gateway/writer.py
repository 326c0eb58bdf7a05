"""Writing batches to InfluxDB: retries with jittered backoff, 413 splits, and refusals settled in as few writes as
InfluxDB's answer allows.

InfluxDB's answers decide what happens (see docs/GATEWAY.md, "Failure handling"; every generation's answers are
classified by :mod:`smartcity.influx.write_answers`):

- 204: durable.
- 5xx, 429, 404, timeouts, connection errors (:class:`InfluxUnavailable`), a 2xx that is not 204
  (:class:`InfluxNotDurable`), 401/403 and anything unexpected: retried with backoff for ``retry_s``, then
  :class:`StoreDown` is raised and the caller spools the batch. The data is fine; the store or its URL is not.
- 413 (:class:`InfluxTooLarge`): the batch is split in halves until it fits; a single point too large is refused.
- A refusal (:class:`InfluxRejected`: 400 or 422, whichever generation) never raises and is never retried as it
  stands: the refused points come back as :class:`StoreRejection`, found in as few writes as the answer allows
  (:mod:`gateway.refusals`): at once when it names them or says all were dropped, by a guided split when it names
  a cut-off or a field, by bisection when it says nothing about which points failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from gateway.errors import StoreDown
from gateway.metrics import GatewayMetrics
from gateway.refusals import Part, StoreRejection, settle
from smartcity.backoff import Backoff
from smartcity.influx.errors import InfluxError, InfluxRejected, InfluxTooLarge, InfluxUnavailable

__all__ = ["BatchWriter", "PointStore", "StoreDown", "StoreRejection", "encode_body"]

log = logging.getLogger(__name__)


class PointStore(Protocol):
    """Where points go: InfluxDB's ``/write`` in production, an in-memory twin in unit tests."""

    async def write(self, body: bytes) -> None:
        """Write line protocol (ms precision); raise :mod:`smartcity.influx.errors` exceptions."""
        ...


def encode_body(lines: Sequence[str]) -> bytes:
    return "\n".join(lines).encode()


class BatchWriter:
    """Makes a batch's points land in the store: returns the ones it refused for good, or raises
    :class:`StoreDown` (see the module docstring)."""

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
        """Write every line; return the ones the store refused for good (all others are durable)."""
        refused: list[StoreRejection] = []
        work = [Part(list(lines), list(topics))]
        writes = 0
        while work:
            part = work.pop()
            if not part.lines:
                continue
            writes += 1
            try:
                await self._write_with_retry(encode_body(part.lines))
            except InfluxTooLarge as exc:
                if len(part.lines) == 1:
                    message = f"point too large for InfluxDB: {exc}"
                    refused.append(StoreRejection(part.lines[0], part.topics[0], message))
                    continue
                log.warning("InfluxDB refused %d points as too large (413): splitting the batch", len(part.lines))
                work += reversed(part.halves())
            except InfluxRejected as exc:
                settled, again = settle(part, exc)
                log.debug("InfluxDB refused %d points (%s): %d settled", len(part.lines), exc.message, len(settled))
                refused += settled
                work += reversed(again)
        if refused:
            kinds = Counter(str(rejection.kind) for rejection in refused)
            log.warning(
                "InfluxDB refused %d of %d points for good (%s) after %d writes; first: %s",
                len(refused),
                len(lines),
                ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())),
                writes,
                refused[0].message,
            )
        return refused

    async def _write_with_retry(self, body: bytes) -> None:
        backoff = self._backoff()
        deadline = time.monotonic() + self._retry_s
        while True:
            try:
                await self._store.write(body)
                return
            except (InfluxRejected, InfluxTooLarge):
                raise
            except InfluxError as exc:  # unavailable, not durable, auth, unexpected: keep the data, retry, then spool
                retry_after = exc.retry_after_s if isinstance(exc, InfluxUnavailable) else None
                retry_after = retry_after or 0.0
                delay = max(backoff.next_delay(), retry_after)
                if time.monotonic() + delay > deadline:
                    raise StoreDown(exc.message) from exc
                self._metrics.write_retries.inc()
                log.warning("InfluxDB write failed (%s), retrying in %.2f s", exc.message, delay)
                await self._sleep(delay)
