"""The live view and the summary show what the run counted."""

from __future__ import annotations

import io
import json

from rich.console import Console

from devices.faults import Fault
from devices.snapshot import Snapshot, merge_snapshots, summarize, summary_json
from devices.stats import RunStats
from devices.view import Rates, live_panel, print_summary


def _snapshot() -> Snapshot:
    stats = RunStats()
    stats.count("messages_sent", 1200)
    stats.count("bytes_sent", 240_000)
    stats.reading_made("d-1", 0)
    stats.reading_made("d-1", 1)
    stats.spiked("d-1", 1)
    stats.fault(Fault.DROPOUT)
    stats.gauges["connected"] = 42
    stats.gauges["narrowband_backlog"] = 7
    stats.error("d-2: connect failed: refused")
    return stats.snapshot(with_ledger=True)


def test_live_panel_shows_connections_rates_faults_backlog_and_errors() -> None:
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(live_panel(_snapshot(), Rates(), devices=50, elapsed_s=3.0))
    text = console.export_text()
    for expected in ("connected sessions", "42", "narrowband backlog", "7", "dropout 1", "connect failed"):
        assert expected in text


def test_json_summary_carries_counters_faults_and_the_ledger() -> None:
    out = io.StringIO()
    print_summary(merge_snapshots([_snapshot(), _snapshot()]), as_json=True, console=Console(file=out))
    summary = json.loads(out.getvalue())
    assert summary["counters"]["messages_sent"] == 2400
    assert summary["faults"] == {"dropout": 2}
    assert summary["devices"]["d-1"] == {"first_seq": 0, "last_seq": 1, "sent": 2, "spiked": [1]}


def test_json_summary_keeps_its_documented_layout() -> None:
    stats = RunStats()
    stats.publish_refused("d-1", 0x87)
    stats.connection_lost(0x8E)
    summary = summary_json(summarize(stats.snapshot(with_ledger=True), devices_run=1, elapsed_s=2.0))
    assert set(summary) == {
        "counters",
        "faults",
        "gauges",
        "errors",
        "devices",
        "devices_run",
        "elapsed_s",
        "msg_per_s",
    }
    counters = summary["counters"]
    for name in ("readings", "messages_sent", "bytes_sent", "acked", "connects", "connection_lost", "resent"):
        assert counters[name] == (1 if name == "connection_lost" else 0)
    assert (counters["publish_refused.not-authorized"], counters["broker_disconnect.session-taken-over"]) == (1, 1)
    assert set(summary["gauges"]) == {"connected", "workers_running", "narrowband_backlog", "cpu_s", "rss_bytes"}
    assert (summary["devices_run"], summary["elapsed_s"], summary["msg_per_s"]) == (1, 2.0, 0.0)


def test_summary_table_lists_every_counter() -> None:
    console = Console(record=True, width=120, file=io.StringIO())
    print_summary(_snapshot(), as_json=False, console=console)
    text = console.export_text()
    assert "messages_sent" in text
    assert "fault: dropout" in text
    assert "spiked readings" in text
    assert "acked" not in text  # counters that stayed at zero are left out of the table
