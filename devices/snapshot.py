"""What a run counted, as typed values: a :class:`Snapshot` of one worker (or of all, merged) at one moment, and
the :class:`Summary` of a whole run.

A worker's :class:`~devices.stats.RunStats` counts while it runs; its snapshots travel to the parent process
over a queue (msgspec structs pickle), feed the live view and end as the summary. Named figures are attributes;
what is open-ended is a mapping: refusals and broker disconnects by MQTT 5 reason (``0xNN`` for a code without a
name), faults by :class:`~devices.faults.Fault`, the ledger by device id.

:func:`summary_json` is the ``--json`` form documented in docs/SIMULATOR.md ("Summary and accounting"): counters
flat by name, a reason's counter as ``publish_refused.<reason>`` or ``broker_disconnect.<reason>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import msgspec

from devices.faults import Fault

_S = TypeVar("_S", bound=msgspec.Struct)

MAX_ERRORS_KEPT = 20
"""The last errors a snapshot carries (a merge keeps the last ones of all workers)."""


class Counters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Monotonic counts of one run. Fields are the names :meth:`~devices.stats.RunStats.count` takes."""

    readings: int = 0
    messages_sent: int = 0
    bytes_sent: int = 0
    acked: int = 0
    connects: int = 0
    connect_refused: int = 0
    connect_failed: int = 0
    connection_lost: int = 0
    resent: int = 0
    commands_received: int = 0
    commands_ok: int = 0
    commands_rejected: int = 0
    narrowband_uplinks: int = 0
    narrowband_uplink_bytes: int = 0
    narrowband_buffered: int = 0
    dropped_device_buffer_full: int = 0
    dropped_netserver_buffer_full: int = 0
    dropped_over_radio_budget: int = 0
    errors: int = 0
    publish_refused: int = 0
    """Every refused publish: a PUBACK failure code, or one over the broker's Maximum Packet Size."""
    publish_refused_by_reason: dict[str, int] = {}
    broker_disconnect_by_reason: dict[str, int] = {}
    """Connections the broker ended with a DISCONNECT reason code (``connection_lost`` counts every loss)."""

    def items(self) -> Iterator[tuple[str, int]]:
        """(name, count) of every counter, by the names of the JSON summary."""
        for name in NAMED_COUNTERS:
            yield name, getattr(self, name)
        for reason, count in self.publish_refused_by_reason.items():
            yield f"publish_refused.{reason}", count
        for reason, count in self.broker_disconnect_by_reason.items():
            yield f"broker_disconnect.{reason}", count


NAMED_COUNTERS = tuple(name for name in Counters.__struct_fields__ if not name.endswith("_by_reason"))


class Gauges(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Current values (summed over workers when merged); CPU and memory are measured at each live snapshot."""

    connected: int = 0
    """Broadband sessions that are up."""
    workers_running: int = 0
    narrowband_backlog: int = 0
    """Readings narrowband devices hold while out of coverage."""
    cpu_s: float = 0.0
    rss_bytes: int = 0


class LedgerEntry(msgspec.Struct, frozen=True):
    """What one device sent: sequence numbers ``first_seq`` to ``last_seq`` (each counted once in ``sent``), and
    those sent out of range on purpose (``spiked``)."""

    first_seq: int
    last_seq: int
    sent: int
    spiked: list[int]


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The stats of one worker, or of several merged, at one moment."""

    counters: Counters = Counters()
    faults: dict[Fault, int] = {}
    gauges: Gauges = Gauges()
    errors: list[str] = []
    devices: dict[str, LedgerEntry] = {}
    """The per-device ledger: in final snapshots only (it has one entry per device)."""


class Summary(Snapshot, frozen=True, kw_only=True):
    """The final, merged snapshot of a run, with its size and rate."""

    devices_run: int
    elapsed_s: float
    msg_per_s: float


def merge_snapshots(snapshots: Sequence[Snapshot]) -> Snapshot:
    """Sum counters and gauges of several workers; concatenate errors and device ledgers."""
    faults: Counter[Fault] = Counter()
    errors: list[str] = []
    devices: dict[str, LedgerEntry] = {}
    for snap in snapshots:
        faults.update(snap.faults)
        errors.extend(snap.errors)
        devices.update(snap.devices)
    return Snapshot(
        counters=_merge_counters([snap.counters for snap in snapshots]),
        faults=dict(faults),
        gauges=_sum_fields(Gauges, [snap.gauges for snap in snapshots]),
        errors=errors[-MAX_ERRORS_KEPT:],
        devices=devices,
    )


def summarize(final: Snapshot, *, devices_run: int, elapsed_s: float) -> Summary:
    """The run's summary: its final snapshot, how many devices ran, how long, and the messages per second."""
    rate = round(final.counters.messages_sent / elapsed_s, 1) if elapsed_s else 0.0
    return Summary(
        **msgspec.structs.asdict(final), devices_run=devices_run, elapsed_s=round(elapsed_s, 3), msg_per_s=rate
    )


def summary_json(snapshot: Snapshot) -> dict[str, Any]:
    """The JSON-ready form of a snapshot or summary (``smartcity simulate --json``)."""
    data: dict[str, Any] = {
        "counters": dict(snapshot.counters.items()),
        "faults": {str(fault): count for fault, count in snapshot.faults.items()},
        "gauges": msgspec.structs.asdict(snapshot.gauges),
        "errors": list(snapshot.errors),
        "devices": {device_id: msgspec.structs.asdict(entry) for device_id, entry in snapshot.devices.items()},
    }
    if isinstance(snapshot, Summary):
        data |= {"devices_run": snapshot.devices_run, "elapsed_s": snapshot.elapsed_s, "msg_per_s": snapshot.msg_per_s}
    return data


def _merge_counters(parts: Sequence[Counters]) -> Counters:
    refused: Counter[str] = Counter()
    disconnects: Counter[str] = Counter()
    for part in parts:
        refused.update(part.publish_refused_by_reason)
        disconnects.update(part.broker_disconnect_by_reason)
    return msgspec.structs.replace(
        _sum_fields(Counters, parts, NAMED_COUNTERS),
        publish_refused_by_reason=dict(refused),
        broker_disconnect_by_reason=dict(disconnects),
    )


def _sum_fields(kind: type[_S], parts: Sequence[_S], names: Sequence[str] | None = None) -> _S:
    """A struct whose numeric fields (``names``, default all) are the sums of those of ``parts``."""
    fields = kind.__struct_fields__ if names is None else names
    return kind(**{name: sum(getattr(part, name) for part in parts) for name in fields})
