"""Per-device health: last seen, sequence accounting (gaps = loss upstream of the gateway, duplicates; see
:mod:`gateway.sequence`), the device's clock offset and the online/offline status from birth and will messages.
Memory is one small record per device of the city, created on first contact; devices not in the registry never
get one.

Points are written as ``device_health`` (fields in :mod:`smartcity.health`) tagged with this replica's id, so
replicas in one ``$share`` group never overwrite each other. At start-up :meth:`DeviceHealth.restore` reloads
this replica's last points, so counts go on across restarts; until it has, nothing is written (a fresh state
must never overwrite the stored one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.sequence import SequenceTracker
from smartcity.backoff import Backoff
from smartcity.city.directory import DeviceDirectory
from smartcity.contract.reading import Value
from smartcity.health import CLOCK_WINDOW_MS, MEASUREMENT, read_replica_records
from smartcity.influx.client import InfluxClient
from smartcity.influx.errors import InfluxError
from smartcity.influx.schema import device_health_point

log = logging.getLogger(__name__)

__all__ = ["MEASUREMENT", "DeviceHealth"]

_NO_SAMPLE = -(1 << 62)


class _Device:
    __slots__ = (
        "clock_at_ms",
        "clock_current",
        "clock_previous",
        "clock_window_ms",
        "dirty",
        "last_seen_ms",
        "online",
        "seq",
        "status_ms",
    )

    def __init__(self) -> None:
        self.seq: SequenceTracker | None = None
        self.last_seen_ms = 0
        self.status_ms = 0
        self.online: bool | None = None
        self.clock_window_ms = 0
        """Receive time at which the current clock window began (0: no reading yet)."""
        self.clock_current = _NO_SAMPLE
        self.clock_previous = _NO_SAMPLE
        self.clock_at_ms = 0
        self.dirty = True

    def clock_offset(self) -> int | None:
        best = max(self.clock_current, self.clock_previous)
        return None if best == _NO_SAMPLE else best


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """One device's health as this replica sees it (``last_seq`` -1: no numbered reading yet)."""

    last_seq: int
    gaps: int
    duplicates: int
    online: bool | None
    last_seen_ms: int


class DeviceHealth:
    """Tracks every device that sent something; :meth:`lines` renders the changed ones for InfluxDB.

    ``shared``: this replica is one of several in a ``$share`` group. It then sees only part of each device's
    sequence, so :meth:`observe` reports no gap changes (the gap metric would count the other replicas' share);
    the true figures come from merging the replicas' points (:func:`smartcity.health.read_device_health`).
    """

    def __init__(self, directory: DeviceDirectory, *, replica: str = "", shared: bool = False) -> None:
        self._directory = directory
        self._devices: dict[str, _Device] = {}
        self.replica = replica
        self.shared = shared
        self.restored = True
        """False while :meth:`restore` has not loaded this replica's stored state: :meth:`lines` yields nothing."""

    def _device(self, device_id: str) -> _Device:
        state = self._devices.get(device_id)
        if state is None:
            state = self._devices[device_id] = _Device()
        return state

    def observe(self, device_id: str, seq: int, ts_ms: int, now_ms: int) -> tuple[bool, int]:
        """Record a valid reading received at ``now_ms``; return ``(is_duplicate, change_of_gaps)``."""
        state = self._devices.get(device_id) or self._device(device_id)
        state.last_seen_ms = now_ms
        state.dirty = True
        tracker = state.seq
        if tracker is None:
            tracker = state.seq = SequenceTracker()
        duplicate, gaps = tracker.observe(seq, ts_ms)
        # Clock: the largest (device - receive) over two windows; old (back-filled, backlog) readings never win.
        lead = ts_ms - now_ms
        if now_ms - state.clock_window_ms >= CLOCK_WINDOW_MS:
            fresh = now_ms - state.clock_window_ms < 2 * CLOCK_WINDOW_MS
            state.clock_previous = state.clock_current if fresh else _NO_SAMPLE
            state.clock_current, state.clock_window_ms = lead, now_ms
        elif lead > state.clock_current:
            state.clock_current = lead
        state.clock_at_ms = now_ms
        return duplicate, 0 if self.shared else gaps

    def set_online(self, device_id: str, online: bool, now_ms: int) -> None:
        """Status from a birth (online), a status message or a last will (offline)."""
        state = self._device(device_id)
        state.online = online
        state.status_ms = now_ms
        state.dirty = True
        if online:
            state.last_seen_ms = max(state.last_seen_ms, now_ms)

    def snapshot(self, device_id: str) -> HealthSnapshot | None:
        """The state of one device (for tests and debugging)."""
        state = self._devices.get(device_id)
        if state is None:
            return None
        tracker = state.seq
        return HealthSnapshot(
            last_seq=tracker.last_seq if tracker else -1,
            gaps=tracker.gaps if tracker else 0,
            duplicates=tracker.duplicates if tracker else 0,
            online=state.online,
            last_seen_ms=state.last_seen_ms,
        )

    def tracker(self, device_id: str) -> SequenceTracker | None:
        """The sequence accounting of one device (for tests and debugging)."""
        state = self._devices.get(device_id)
        return state.seq if state else None

    def clock_offset(self, device_id: str) -> int | None:
        """The device's clock offset estimate in ms (device minus receive time), None before its first reading."""
        state = self._devices.get(device_id)
        return state.clock_offset() if state else None

    def fleet_clock_offset(self, now_ms: int, *, min_devices: int = 5) -> tuple[int | None, int]:
        """Median clock offset of the devices that sent a reading in the last clock window, and how many did;
        None when fewer than ``min_devices`` did. A gateway whose own clock is wrong sees every device off by
        the same amount, the other way."""
        offsets = sorted(
            offset
            for state in self._devices.values()
            if now_ms - state.clock_at_ms < CLOCK_WINDOW_MS and (offset := state.clock_offset()) is not None
        )
        if len(offsets) < max(min_devices, 1):
            return None, len(offsets)
        return offsets[len(offsets) // 2], len(offsets)

    def __len__(self) -> int:
        return len(self._devices)

    def lines(self, now_ms: int, *, only_changed: bool = True) -> Iterator[str]:
        """``device_health`` points (ms precision) for devices changed since the last call; clears the marks.
        Nothing until the stored state was restored (see :meth:`restore`)."""
        if not self.restored:
            return
        for device_id, state in self._devices.items():
            if only_changed and not state.dirty:
                continue
            info = self._directory.get(device_id)
            if info is None:
                continue
            state.dirty = False
            fields: dict[str, Value] = {}
            tracker = state.seq
            if tracker is not None and tracker.seen:
                fields |= {"last_seq": tracker.last_seq, "gaps": tracker.gaps, "duplicates": tracker.duplicates}
                fields |= tracker.fields()
            elif tracker is not None:
                fields["duplicates"] = tracker.duplicates
            if state.online is not None:
                fields |= {"online": state.online, "status_ms": state.status_ms}
            fields["last_seen_ms"] = state.last_seen_ms
            offset = state.clock_offset()
            if offset is not None:
                fields |= {"clock_offset_ms": offset, "clock_at_ms": state.clock_at_ms}
            yield device_health_point(info, replica=self.replica, fields=fields, ts_ms=now_ms)

    # -- restart ---------------------------------------------------------------------------------------------

    async def restore(self, influx: InfluxClient, *, replica: str, shared: bool = False) -> int:
        """Reload this replica's last ``device_health`` points, retrying while InfluxDB is unavailable; returns
        how many devices were restored. Readings observed meanwhile are combined with the stored state."""
        self.replica, self.shared, self.restored = replica, shared, False
        backoff = Backoff(0.5, 30.0)
        while True:
            try:
                records = await read_replica_records(influx, replica=replica)
                break
            except InfluxError as exc:
                delay = backoff.next_delay()
                log.warning("cannot reload device health yet (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
        restored = 0
        for record in records:
            if self._directory.get(record.device) is None:
                continue
            known = record.device in self._devices
            state = self._device(record.device)
            state.dirty = known  # a device only restored is stored as it is: no need to write it again
            if record.sequenced or record.duplicates:
                stored = SequenceTracker.restore(record)
                state.seq = stored.absorb(state.seq) if state.seq is not None else stored
            if state.online is None and record.online is not None:
                state.online, state.status_ms = record.online, record.status_ms
            state.last_seen_ms = max(state.last_seen_ms, record.last_seen_ms)
            if state.clock_window_ms == 0 and record.clock_offset_ms is not None:
                state.clock_current, state.clock_window_ms = record.clock_offset_ms, record.clock_at_ms
                state.clock_at_ms = record.clock_at_ms
            restored += 1
        self.restored = True
        log.info("device health of %d devices reloaded (replica %s)", restored, replica)
        return restored
