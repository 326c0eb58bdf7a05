"""From a sealed batch to acknowledged messages: write to InfluxDB or spool, dead-letter refused points, ack.

- Up to ``max_inflight`` batches are written at once. When that many more are waiting, the gateway stops reading
  from the broker (QoS 0 backpressure; QoS 1 is also bounded by the MQTT Receive Maximum) until half have gone.
- A batch that keeps failing (see :mod:`gateway.writer`) is appended to the spool, which makes it durable, and the
  store is marked down: following batches go straight to the spool until the replayer has written the oldest
  spooled batch again. The replayer drains the spool oldest first while live traffic continues. A batch that
  neither InfluxDB nor the spool takes (disk full) is retried on both and never acknowledged meanwhile.
- Points InfluxDB refuses for good become ``store-rejected`` dead-letter points (``DeadLetters.of_refused``), made
  durable (written or spooled) before the batch's messages are acknowledged; on replay, a spooled batch leaves the
  spool only once the dead letters of its refused points are spooled in its place. Nothing here waits for the
  broker.
- Every ``health_interval_s`` the changed device-health records are written (best effort: they are derived state).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from gateway.anchors import AnchorStore
from gateway.batching import AckLedger, Batch
from gateway.deadletter import DeadLetters
from gateway.errors import SpoolError
from gateway.health import DeviceHealth
from gateway.metrics import GatewayMetrics
from gateway.spool import Spool, SpooledBatch
from gateway.writer import BatchWriter, StoreDown, StoreRejection
from smartcity.backoff import Backoff
from smartcity.influx.errors import InfluxError
from smartcity.influx.schema import LATE_WINDOWS
from smartcity.latewindows import late_window_lines, line_timestamps

log = logging.getLogger(__name__)

_HEALTH_CHUNK = 5_000
"""device_health points per write (a city of 100k devices would otherwise send one huge body)."""


class FlowControl(Protocol):
    """What the pipeline needs from the broker side for backpressure."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Pipeline:
    """Owns the writer tasks, the spool replayer and the device-health writer (see the module docstring)."""

    def __init__(
        self,
        *,
        writer: BatchWriter,
        replay_writer: BatchWriter,
        spool: Spool,
        ledger: AckLedger,
        dead_letters: DeadLetters,
        health: DeviceHealth,
        metrics: GatewayMetrics,
        flow: FlowControl,
        max_inflight: int,
        health_interval_s: float,
        ping: Callable[[], Awaitable[bool]],
        anchors: AnchorStore | None = None,
    ) -> None:
        self._writer = writer
        self._replay_writer = replay_writer
        self._spool = spool
        self._ledger = ledger
        self._dead_letters = dead_letters
        self._health = health
        self._metrics = metrics
        self._flow = flow
        self._max_inflight = max_inflight
        self._health_interval_s = health_interval_s
        self._ping = ping
        self._anchors = anchors
        self._queue: asyncio.Queue[Batch] = asyncio.Queue()
        self._paused = False
        self._spooled = asyncio.Event()
        self.store_up = True
        """False after a batch was spooled, until the replayer wrote to InfluxDB again."""
        self.store_reachable = True
        """Last /ping or write succeeded (readiness)."""
        self._down_reason = ""
        metrics.spool_depth.set(spool.depth)
        metrics.influx_up.set(1)
        if spool.batches:
            self._spooled.set()

    @property
    def store_state(self) -> str:
        """For /readyz: ``ok``, ``degraded: ...`` (reachable, but points wait in the spool) or ``down``."""
        if not self.store_reachable:
            return f"down: {self._down_reason}" if self._down_reason else "down"
        if self._spool.depth:
            return f"degraded: {self._spool.depth} points spooled, replaying"
        return "ok"

    # -- intake side (synchronous, called from the broker's read callback) -------------------------------------

    def submit(self, batch: Batch) -> None:
        """Queue a sealed batch for writing; pause the broker when too many are waiting."""
        self._queue.put_nowait(batch)
        if not self._paused and self._queue.qsize() >= self._max_inflight:
            self._paused = True
            log.debug("backpressure: %d batches waiting, pausing the broker", self._queue.qsize())
            self._flow.pause_reading()

    def _maybe_resume(self) -> None:
        if self._paused and self._queue.qsize() <= self._max_inflight // 2:
            self._paused = False
            self._flow.resume_reading()

    # -- tasks ---------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for index in range(self._max_inflight):
                tasks.create_task(self._write_loop(), name=f"writer-{index}")
            tasks.create_task(self._replay_loop(), name="spool-replay")
            tasks.create_task(self._health_loop(), name="device-health")

    async def drain(self) -> None:
        """Wait until every submitted batch is durable and acknowledged (used at shutdown)."""
        await self._queue.join()

    async def _write_loop(self) -> None:
        while True:
            batch = await self._queue.get()
            self._maybe_resume()
            try:
                await self._process(batch)
            finally:
                self._queue.task_done()

    async def _process(self, batch: Batch) -> None:
        started = time.monotonic()
        if batch.lines:
            # Anchors of relative SenML times first: a redelivery must find the anchor its points were written with.
            if self._anchors is not None and not await self._anchors.persist_pending():
                self._metrics.anchors_unsaved.inc()
            # Late-data marks for the roll-ups travel in the batch's own write: durable exactly when its points are.
            late = late_window_lines(batch.ts_ms, now_ms=int(time.time() * 1000))
            if late:
                batch.lines += late
                batch.topics += [""] * len(late)
            refused = await self._make_durable(batch.lines, batch.topics, batch.ts_ms)
            if refused:
                await self._make_durable(*self._dead_letters.of_refused(refused))
            self._metrics.batch_write_seconds.observe(time.monotonic() - started)
            log.debug(
                "batch of %d points from %d messages durable in %.3f s (%.3f s after it opened)",
                len(batch.lines),
                len(batch.mids),
                time.monotonic() - started,
                time.monotonic() - batch.opened,
            )
        self._ledger.complete(batch)
        self._metrics.inflight_unacked.set(self._ledger.unacked)

    async def _make_durable(
        self, lines: list[str], topics: list[str], ts_ms: Sequence[int] = ()
    ) -> list[StoreRejection]:
        """Write ``lines`` to InfluxDB, or spool them when it is down; return the points it refused for good.
        Returns only once the points are durable: when the spool fails too (disk full), it keeps trying both."""
        backoff = Backoff(0.5, 10.0)
        while True:
            if self.store_up:
                try:
                    refused = await self._writer.write(lines, topics)
                except StoreDown as exc:
                    self._mark_down(str(exc))
                else:
                    self._written(len(lines) - len(refused), ts_ms)
                    return self._dead_letters.readings_only(refused)
            try:
                await self._spool.append(lines, topics)
            except SpoolError as exc:
                delay = backoff.next_delay()
                log.error("cannot spool %d points (%s): not acknowledged, retrying in %.1f s", len(lines), exc, delay)
                await asyncio.sleep(delay)
                self.store_up = True  # try InfluxDB again first
                continue
            self._metrics.spooled_points.inc(len(lines))
            self._metrics.spool_depth.set(self._spool.depth)
            self._spooled.set()
            return []

    async def _mark_late(self, ts_ms: Sequence[int]) -> None:
        """Roll-ups: mark the hour windows a replayed batch wrote late points into (:mod:`smartcity.latewindows`);
        its old marks are not counted: they were made when it was spooled."""
        late = late_window_lines(ts_ms, now_ms=int(time.time() * 1000))
        if late:
            await self._make_durable(late, [""] * len(late))

    def _written(self, points: int, ts_ms: Sequence[int]) -> None:
        self.store_reachable = True
        self._metrics.points_written.inc(points)
        if ts_ms:
            now_ms = time.time() * 1000
            self._metrics.end_to_end_lag_seconds.observe_many([(now_ms - ts) / 1000 for ts in ts_ms])

    def _mark_down(self, reason: str) -> None:
        if self.store_up:
            log.warning("InfluxDB unavailable (%s): spooling batches until it is back", reason)
        self.store_up = False
        self.store_reachable = False
        self._down_reason = reason[:200]
        self._metrics.influx_up.set(0)

    async def _replay_loop(self) -> None:
        backoff = Backoff(0.25, 10.0)
        while True:
            if not self._spool.batches:
                self._spooled.clear()
                await self._spooled.wait()
                continue
            try:
                entry = await self._spool.oldest()
                if entry is None:
                    self._spool.batches = 0
                    continue
                if await self._replay(entry):
                    backoff.reset()
                    await self._forget(entry)
                    continue
            except SpoolError as exc:
                log.error("cannot read the spool (%s): retrying", exc)
            await asyncio.sleep(backoff.next_delay())

    async def _replay(self, entry: SpooledBatch) -> bool:
        """Write one spooled batch again; False when it must stay spooled for now (store down, spool full)."""
        try:
            refused = self._dead_letters.readings_only(await self._replay_writer.write(entry.lines, entry.topics))
        except StoreDown:
            return False
        if not self.store_up:
            log.warning("InfluxDB is back: writing live batches again, replaying %d spooled", self._spool.batches)
        self.store_up = True
        self._metrics.influx_up.set(1)
        self._written(len(entry.lines) - len(refused), ())
        await self._mark_late(line_timestamps(line for line in entry.lines if not line.startswith(f"{LATE_WINDOWS},")))
        if refused:
            # The refused points leave the spool only together with their dead letters: spooled in the same step,
            # they are replayed like any batch (a rewrite of the rest of the entry is idempotent).
            try:
                await self._spool.append(*self._dead_letters.of_refused(refused))
            except SpoolError as exc:
                log.error("cannot spool dead letters of refused points (%s): the batch stays spooled", exc)
                return False
            self._metrics.spooled_points.inc(len(refused))
        return True

    async def _forget(self, entry: SpooledBatch) -> None:
        """Remove a replayed batch, retrying only the removal (replaying again would spool its dead letters twice)."""
        backoff = Backoff(0.25, 10.0)
        while True:
            try:
                await self._spool.remove(entry)
            except SpoolError as exc:
                log.error("cannot remove a replayed batch from the spool (%s): retrying", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            self._metrics.spool_depth.set(self._spool.depth)
            return

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval_s)
            self.store_reachable = await self._ping()
            await self.write_health()

    async def write_health(self) -> None:
        """Write the changed ``device_health`` records (best effort: they are derived state)."""
        if not self.store_up:
            return
        lines = list(self._health.lines(int(time.time() * 1000)))
        try:
            for start in range(0, len(lines), _HEALTH_CHUNK):
                chunk = lines[start : start + _HEALTH_CHUNK]
                await self._replay_writer.write(chunk, [""] * len(chunk))
        except (StoreDown, InfluxError) as exc:
            log.warning("device_health not written (%s); it is rewritten with the next changes", exc)
