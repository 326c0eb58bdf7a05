"""What a run did, counted: the live view reads snapshots of it, the summary is its final state.

Each worker keeps a :class:`RunStats`; :meth:`RunStats.snapshot` copies it into a typed
:class:`~devices.snapshot.Snapshot`, which travels between processes and is merged there. The per-device ledger
lets a test compare what was sent with what was stored: a fault-free device's readings carry every sequence number
from ``first_seq`` to ``last_seq``; ``spiked`` lists those sent out of range on purpose.

What the broker refused is counted by MQTT 5 reason, so that a limit hit on the device side shows in the summary
instead of vanishing: ``publish_refused`` (all refusals) and one count per reason for PUBACKs with a failure code
(and publishes the session did not send because they exceed the broker's Maximum Packet Size,
``packet-too-large``); connections the broker ended with a DISCONNECT reason code are counted by that reason.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import msgspec

from devices.faults import Fault
from devices.mqtt5 import reason_name
from devices.snapshot import MAX_ERRORS_KEPT, Counters, Gauges, LedgerEntry, Snapshot


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

    def entry(self) -> LedgerEntry:
        return LedgerEntry(self.first_seq, self.last_seq, self.sent, list(self.spiked))


@dataclass(slots=True)
class RunStats:
    """Counters (monotonic, by the field names of :class:`~devices.snapshot.Counters`), gauges (current values,
    by those of :class:`~devices.snapshot.Gauges`) and the per-device ledger."""

    counters: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    """Refused publishes by reason slug."""
    disconnects: Counter[str] = field(default_factory=Counter)
    """Broker DISCONNECTs by reason slug."""
    faults: Counter[Fault] = field(default_factory=Counter)
    gauges: dict[str, float] = field(default_factory=dict)
    ledger: dict[str, DeviceLedger] = field(default_factory=dict)
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS_KEPT))

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def fault(self, name: Fault, amount: int = 1) -> None:
        self.faults[name] += amount

    def error(self, text: str) -> None:
        self.counters["errors"] += 1
        self.errors.append(text)

    def connect_refused(self, text: str) -> None:
        """The broker answered CONNECT with a failure reason code; ``text`` says who and why."""
        self.counters["connect_refused"] += 1
        self.error(text)

    def connect_failed(self, sender: str, exc: BaseException) -> None:
        """A connection attempt of ``sender`` did not get as far as a CONNACK (refused socket, timeout, ...)."""
        self.counters["connect_failed"] += 1
        self.error(f"{sender}: connect failed: {exc}")

    def publish_refused(self, sender: str, reason: int) -> None:
        """The broker (or the session, for a packet over the broker's size limit) refused one publish."""
        self.counters["publish_refused"] += 1
        self.refused[reason_name(reason)] += 1
        self.error(f"{sender}: broker refused a publish (reason code 0x{reason:02x}): {reason_name(reason)}")

    def connection_lost(self, disconnect_reason: int | None) -> None:
        """A live connection ended; ``disconnect_reason`` is the code of the broker's DISCONNECT, if it sent one."""
        self.counters["connection_lost"] += 1
        if disconnect_reason is not None:
            self.disconnects[reason_name(disconnect_reason)] += 1

    def reading_made(self, device_id: str, seq: int) -> None:
        """A reading took sequence number ``seq`` (it is then sent, buffered, or counted as dropped)."""
        ledger = self.ledger.get(device_id)
        if ledger is None:
            ledger = self.ledger[device_id] = DeviceLedger()
        ledger.record(seq)
        self.counters["readings"] += 1

    def spiked(self, device_id: str, seq: int) -> None:
        self.ledger.setdefault(device_id, DeviceLedger()).spiked.append(seq)

    def snapshot(self, *, with_ledger: bool = False) -> Snapshot:
        """A copy of the stats now (the ledger only when asked: it has one entry per device). A counter or gauge
        name that :class:`~devices.snapshot.Counters` or :class:`~devices.snapshot.Gauges` lacks is refused."""
        try:
            counters = msgspec.convert(
                {
                    **self.counters,
                    "publish_refused_by_reason": dict(self.refused),
                    "broker_disconnect_by_reason": dict(self.disconnects),
                },
                Counters,
            )
            gauges = msgspec.convert(self.gauges, Gauges)
        except msgspec.ValidationError as exc:
            raise ValueError(f"run stats do not fit a snapshot: {exc}") from None
        return Snapshot(
            counters=counters,
            faults=dict(self.faults),
            gauges=gauges,
            errors=list(self.errors),
            devices={device_id: ledger.entry() for device_id, ledger in self.ledger.items()} if with_ledger else {},
        )
