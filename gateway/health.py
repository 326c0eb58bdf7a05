"""Per-device health: last seen, sequence numbers, gaps (loss upstream of the gateway), duplicates and the
online/offline status from birth and will messages. Memory is one small record per device of the city, created
on first contact; devices not in the registry never get one."""

from __future__ import annotations

from collections.abc import Iterator

from smartcity.city.directory import DeviceDirectory

WINDOW = 64
"""How many recent sequence numbers per device are remembered to recognise duplicates and late arrivals."""
_MASK = (1 << WINDOW) - 1
MEASUREMENT = "device_health"


class _Device:
    __slots__ = ("dirty", "duplicates", "gaps", "last_seen_ms", "last_ts_ms", "max_seq", "online", "window")

    def __init__(self) -> None:
        self.max_seq = -1
        self.window = 0
        """Bit i set: sequence number ``max_seq - i`` was seen."""
        self.gaps = 0
        self.duplicates = 0
        self.last_seen_ms = 0
        self.last_ts_ms = 0
        self.online: bool | None = None
        self.dirty = True


class DeviceHealth:
    """Tracks every device that sent something; :meth:`lines` renders the changed ones for InfluxDB."""

    def __init__(self, directory: DeviceDirectory) -> None:
        self._directory = directory
        self._devices: dict[str, _Device] = {}

    def _device(self, device_id: str) -> _Device:
        state = self._devices.get(device_id)
        if state is None:
            state = self._devices[device_id] = _Device()
        return state

    def observe(self, device_id: str, seq: int, ts_ms: int, now_ms: int) -> tuple[bool, int]:
        """Record a valid reading; return ``(is_duplicate, new_gaps)``."""
        state = self._devices.get(device_id) or self._device(device_id)
        state.last_seen_ms = now_ms
        state.dirty = True
        if seq == state.max_seq + 1 and state.max_seq >= 0:  # the common case: the next one, in order
            state.window = ((state.window << 1) | 1) & _MASK
            state.max_seq = seq
            if ts_ms > state.last_ts_ms:
                state.last_ts_ms = ts_ms
            return False, 0
        new_gaps = 0
        if state.max_seq < 0 or seq > state.max_seq:
            delta = seq - state.max_seq if state.max_seq >= 0 else 1
            if delta > 1:
                new_gaps = delta - 1
            state.window = ((state.window << delta) | 1) & _MASK if delta < WINDOW else 1
            state.max_seq = seq
        else:
            back = state.max_seq - seq
            bit = 1 << back if back < WINDOW else 0
            if ts_ms > state.last_ts_ms and (not bit or state.window & bit):
                # An old seq with a newer clock than anything seen: the device restarted its sequence.
                state.max_seq, state.window = seq, 1
            elif bit and state.window & bit:
                state.duplicates += 1
                return True, 0
            elif bit:
                state.window |= bit
                if state.gaps > 0:  # a late arrival fills a gap counted earlier
                    new_gaps = -1
        state.gaps += new_gaps
        state.last_ts_ms = max(state.last_ts_ms, ts_ms)
        return False, new_gaps

    def set_online(self, device_id: str, online: bool, now_ms: int) -> None:
        """Status from a birth (online), a status message or a last will (offline)."""
        state = self._device(device_id)
        state.online = online
        state.dirty = True
        if online:
            state.last_seen_ms = max(state.last_seen_ms, now_ms)

    def snapshot(self, device_id: str) -> dict[str, int | bool | None] | None:
        """The state of one device (for tests and debugging)."""
        state = self._devices.get(device_id)
        if state is None:
            return None
        return {
            "last_seq": state.max_seq,
            "gaps": state.gaps,
            "duplicates": state.duplicates,
            "online": state.online,
            "last_seen_ms": state.last_seen_ms,
        }

    def __len__(self) -> int:
        return len(self._devices)

    def lines(self, now_ms: int, *, only_changed: bool = True) -> Iterator[str]:
        """``device_health`` points (ms precision) for devices changed since the last call; clears the marks."""
        for device_id, state in self._devices.items():
            if only_changed and not state.dirty:
                continue
            info = self._directory.get(device_id)
            if info is None:
                continue
            state.dirty = False
            fields = [f"last_seq={max(state.max_seq, 0)}i", f"gaps={state.gaps}i", f"duplicates={state.duplicates}i"]
            if state.online is not None:
                fields.append(f"online={'true' if state.online else 'false'}")
            fields.append(f"last_seen_ms={state.last_seen_ms}i")
            # Ids and kinds are registry slugs ([a-z0-9_-]), which need no escaping in line protocol.
            tags = (
                f"device={device_id},device_type={info.device_type.value},district={info.district_id},"
                f"facility={info.facility_id},facility_kind={info.facility_kind.value}"
            )
            yield f"{MEASUREMENT},{tags} {','.join(fields)} {now_ms}"
