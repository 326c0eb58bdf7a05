"""The terminal side of a run: a rich live view while it runs, a summary table (or JSON) at the end."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text


class Rates:
    """Messages/s and bytes/s between two snapshots."""

    def __init__(self) -> None:
        self._last: tuple[float, int, int] | None = None
        self.msg_s = 0.0
        self.bytes_s = 0.0

    def update(self, snapshot: dict[str, Any]) -> None:
        counters = snapshot.get("counters", {})
        now, sent, size = time.monotonic(), counters.get("messages_sent", 0), counters.get("bytes_sent", 0)
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            self.msg_s = (sent - self._last[1]) / elapsed
            self.bytes_s = (size - self._last[2]) / elapsed
        self._last = (now, sent, size)


def live_panel(snapshot: dict[str, Any], rates: Rates, *, devices: int, elapsed_s: float) -> Group:
    """What the live view shows: connections, throughput, faults, narrowband backlog, errors."""
    counters, gauges, faults = snapshot.get("counters", {}), snapshot.get("gauges", {}), snapshot.get("faults", {})
    table = Table(title=f"smartcity simulate - {elapsed_s:,.0f} s", show_header=False, min_width=60)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("devices", f"{devices:,}")
    table.add_row("connected sessions", f"{int(gauges.get('connected', 0)):,}")
    table.add_row("messages/s", f"{rates.msg_s:,.0f}")
    table.add_row("bytes/s", f"{rates.bytes_s:,.0f}")
    table.add_row("readings", f"{counters.get('readings', 0):,}")
    table.add_row("acknowledged", f"{counters.get('acked', 0):,}")
    table.add_row("narrowband backlog", f"{int(gauges.get('narrowband_backlog', 0)):,}")
    table.add_row("faults injected", ", ".join(f"{k} {v:,}" for k, v in sorted(faults.items())) or "none")
    table.add_row("errors", f"{counters.get('errors', 0):,}")
    errors = snapshot.get("errors", [])
    tail = Text("\n".join(errors[-3:]), style="red") if errors else Text("")
    return Group(table, tail)


def summary_table(summary: dict[str, Any]) -> Table:
    """The final summary: every counter and fault, and the device ledger condensed."""
    table = Table(title="simulation summary")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for key in ("devices_run", "elapsed_s", "msg_per_s"):
        if key in summary:
            value = summary[key]
            table.add_row(key, f"{value:,.1f}" if isinstance(value, float) else f"{value:,}")
    for name, value in sorted(summary.get("counters", {}).items()):
        table.add_row(name, f"{value:,}")
    for name, value in sorted(summary.get("faults", {}).items()):
        table.add_row(f"fault: {name}", f"{value:,}")
    ledger = summary.get("devices", {})
    if ledger:
        table.add_row("devices that sent readings", f"{sum(1 for entry in ledger.values() if entry['sent']):,}")
        table.add_row("spiked readings (expect out-of-range)", f"{sum(len(e['spiked']) for e in ledger.values()):,}")
    return table


def print_summary(summary: dict[str, Any], *, as_json: bool, console: Console) -> None:
    if as_json:
        console.file.write(json.dumps(summary, sort_keys=True) + "\n")
        return
    console.print(summary_table(summary))
    for error in summary.get("errors", []):
        console.print(f"[red]error:[/red] {error}")
