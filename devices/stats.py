"""What a run did, counted: the live view reads snapshots of it, the summary is its final state.

Workers each keep a :class:`RunStats`; the runner merges them (plain dicts travel between processes). The
per-device ledger lets a test compare what was sent with what was stored: a fault-free device's readings carry
every sequence number from ``first_seq`` to ``last_seq``; ``spiked`` lists those sent out of range on purpose.

What the broker refused is counted by MQTT 5 reason, so that a limit hit on the device side shows in the summary
instead of vanishing: ``publish_refused`` (all refusals) and ``publish_refused.<reason>`` for PUBACKs with a
failure code (and publishes the session did not send because they exceed the broker's Maximum Packet Size,
``publish_refused.packet-too-large``), ``broker_disconnect.<reason>`` for connections the broker ended with a
DISCONNECT reason code.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from devices.mqtt5 import reason_name

MAX_ERRORS_KEPT = 20


@dataclass(slots=True)
class DeviceLedger:
    """Readings one device sent (each sequence number once, duplicates not counted again)."""

    first_seq: int = -1
    last_seq: int = -1
    sent: int = 0
    spiked: list[int] = field(default_factory=list)

    def record(self, seq: int) -> None:
        if self.first_seq < 0:
            self.first_seq = seq
        self.last_seq = max(self.last_seq, seq)
        self.sent += 1

    def as_dict(self) -> dict[str, Any]:
        return {"first_seq": self.first_seq, "last_seq": self.last_seq, "sent": self.sent, "spiked": self.spiked}


@dataclass(slots=True)
class RunStats:
    """Counters (monotonic), gauges (current values) and the per-device ledger."""

    counters: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    gauges: dict[str, float] = field(default_factory=dict)
    ledger: dict[str, DeviceLedger] = field(default_factory=dict)
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS_KEPT))

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def fault(self, name: str, amount: int = 1) -> None:
        self.faults[name] += amount

    def error(self, text: str) -> None:
        self.counters["errors"] += 1
        self.errors.append(text)

    def publish_refused(self, sender: str, reason: int) -> None:
        """The broker (or the session, for a packet over the broker's size limit) refused one publish."""
        self.counters["publish_refused"] += 1
        self.counters[f"publish_refused.{reason_name(reason)}"] += 1
        self.error(f"{sender}: broker refused a publish (reason code 0x{reason:02x}): {reason_name(reason)}")

    def connection_lost(self, disconnect_reason: int | None) -> None:
        """A live connection ended; ``disconnect_reason`` is the code of the broker's DISCONNECT, if it sent one."""
        self.counters["connection_lost"] += 1
        if disconnect_reason is not None:
            self.counters[f"broker_disconnect.{reason_name(disconnect_reason)}"] += 1

    def reading_made(self, device_id: str, seq: int) -> None:
        """A reading took sequence number ``seq`` (it is then sent, buffered, or counted as dropped)."""
        ledger = self.ledger.get(device_id)
        if ledger is None:
            ledger = self.ledger[device_id] = DeviceLedger()
        ledger.record(seq)
        self.counters["readings"] += 1

    def spiked(self, device_id: str, seq: int) -> None:
        self.ledger.setdefault(device_id, DeviceLedger()).spiked.append(seq)

    def snapshot(self, *, with_ledger: bool = False) -> dict[str, Any]:
        """A picklable, JSON-ready copy (the ledger only when asked: it has one entry per device)."""
        data: dict[str, Any] = {
            "counters": dict(self.counters),
            "faults": dict(self.faults),
            "gauges": dict(self.gauges),
            "errors": list(self.errors),
        }
        if with_ledger:
            data["devices"] = {device_id: ledger.as_dict() for device_id, ledger in self.ledger.items()}
        return data


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum counters and gauges of several workers; concatenate errors and device ledgers."""
    counters: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    gauges: Counter[str] = Counter()
    errors: list[str] = []
    devices: dict[str, Any] = {}
    for snap in snapshots:
        counters.update(snap.get("counters", {}))
        faults.update(snap.get("faults", {}))
        gauges.update(snap.get("gauges", {}))
        errors.extend(snap.get("errors", []))
        devices.update(snap.get("devices", {}))
    merged: dict[str, Any] = {
        "counters": dict(counters),
        "faults": dict(faults),
        "gauges": dict(gauges),
        "errors": errors[-MAX_ERRORS_KEPT:],
    }
    if devices:
        merged["devices"] = devices
    return merged
