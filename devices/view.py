"""The terminal side of a run: a rich live view while it runs, a summary table (or JSON) at the end."""

from __future__ import annotations

import json
import time

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from devices.snapshot import Snapshot, Summary, summary_json


class Rates:
    """Messages/s and bytes/s between two snapshots."""

    def __init__(self) -> None:
        self._last: tuple[float, int, int] | None = None
        self.msg_s = 0.0
        self.bytes_s = 0.0

    def update(self, snapshot: Snapshot) -> None:
        counters = snapshot.counters
        now, sent, size = time.monotonic(), counters.messages_sent, counters.bytes_sent
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            self.msg_s = (sent - self._last[1]) / elapsed
            self.bytes_s = (size - self._last[2]) / elapsed
        self._last = (now, sent, size)


def live_panel(snapshot: Snapshot, rates: Rates, *, devices: int, elapsed_s: float) -> Group:
    """What the live view shows: connections, throughput, faults, narrowband backlog, errors."""
    counters, gauges, faults = snapshot.counters, snapshot.gauges, snapshot.faults
    table = Table(title=f"smartcity simulate - {elapsed_s:,.0f} s", show_header=False, min_width=60)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("devices", f"{devices:,}")
    table.add_row("connected sessions", f"{gauges.connected:,}")
    table.add_row("messages/s", f"{rates.msg_s:,.0f}")
    table.add_row("bytes/s", f"{rates.bytes_s:,.0f}")
    table.add_row("readings", f"{counters.readings:,}")
    table.add_row("acknowledged", f"{counters.acked:,}")
    table.add_row("narrowband backlog", f"{gauges.narrowband_backlog:,}")
    table.add_row("faults injected", ", ".join(f"{k} {v:,}" for k, v in sorted(faults.items())) or "none")
    table.add_row("errors", f"{counters.errors:,}")
    errors = snapshot.errors
    tail = Text("\n".join(errors[-3:]), style="red") if errors else Text("")
    return Group(table, tail)


def summary_table(summary: Snapshot) -> Table:
    """The final summary: the run's figures, every counter that counted something, every fault, and the device
    ledger condensed."""
    table = Table(title="simulation summary")
    table.add_column("counter")
    table.add_column("value", justify="right")
    if isinstance(summary, Summary):
        table.add_row("devices_run", f"{summary.devices_run:,}")
        table.add_row("elapsed_s", f"{summary.elapsed_s:,.1f}")
        table.add_row("msg_per_s", f"{summary.msg_per_s:,.1f}")
    for name, value in sorted(summary.counters.items()):
        if value:
            table.add_row(name, f"{value:,}")
    for fault, value in sorted(summary.faults.items()):
        table.add_row(f"fault: {fault}", f"{value:,}")
    ledger = summary.devices
    if ledger:
        table.add_row("devices that sent readings", f"{sum(1 for entry in ledger.values() if entry.sent):,}")
        table.add_row("spiked readings (expect out-of-range)", f"{sum(len(e.spiked) for e in ledger.values()):,}")
    return table


def print_summary(summary: Snapshot, *, as_json: bool, console: Console) -> None:
    """The summary as a table and the last errors, or as one JSON object (:func:`devices.snapshot.summary_json`)."""
    if as_json:
        console.file.write(json.dumps(summary_json(summary), sort_keys=True) + "\n")
        return
    console.print(summary_table(summary))
    for error in summary.errors:
        console.print(f"[red]error:[/red] {error}")
