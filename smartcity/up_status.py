"""What ``smartcity up`` shows while it runs: totals and rates from the gateway's counters, and cheap questions to
InfluxDB.

Counting every stored point (``SELECT count(...) FROM /.*/``) costs more the bigger the database grows, until the
status itself loads InfluxDB; the gateway already counts what it received, wrote and dead-lettered, and scraping
its ``/metrics`` costs the same at any size. InfluxDB is only asked for its series cardinality (an estimate kept
in its index), which answers in milliseconds whatever the number of points.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

GATEWAY_COUNTERS = {
    "smartcity_gateway_messages_received": "received",
    "smartcity_gateway_readings_accepted": "readings accepted",
    "smartcity_gateway_points_written": "points written",
    "smartcity_gateway_rejected": "dead-lettered",
}
"""Gateway counters shown as total and rate (summed over their labels)."""
GATEWAY_GAUGES = {"smartcity_gateway_spool_depth": "spooled now"}


def gateway_counters(port: int) -> dict[str, float]:
    """The gateway's headline counters and gauges, summed over their labels (empty when it does not answer)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2.0).text
    except httpx.HTTPError:
        return {}
    names = GATEWAY_COUNTERS | GATEWAY_GAUGES
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        label = names.get(family.name)
        if label is not None:
            totals[label] = sum(s.value for s in family.samples if not s.name.endswith("_created"))
    return totals


def series_cardinality(influx_url: str, database: str) -> int | None:
    """InfluxDB's estimate of the series in ``database`` (None when it does not answer or has none yet)."""
    try:
        response = httpx.get(
            f"{influx_url}/query", params={"db": database, "q": "SHOW SERIES CARDINALITY"}, timeout=2.0
        )
        response.raise_for_status()
        series = response.json()["results"][0].get("series") or []
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return None
    return int(sum(s["values"][0][0] for s in series)) if series else None


@dataclass(frozen=True, slots=True)
class StatusLine:
    """One look at the platform: gateway totals, their rates since the previous look, the series stored."""

    elapsed_s: float
    totals: dict[str, float]
    rates: dict[str, float]
    series: int | None

    def rows(self) -> list[tuple[str, str]]:
        """(what, value) pairs for a table or a log line."""
        out = []
        for label in GATEWAY_COUNTERS.values():
            if label in self.totals:
                rate = self.rates.get(label)
                shown = "" if rate is None else f" ({rate:,.0f}/s)" if rate >= 10 else f" ({rate:.1f}/s)"
                out.append((label, f"{self.totals[label]:,.0f}{shown}"))
        for label in GATEWAY_GAUGES.values():
            if label in self.totals:
                out.append((label, f"{self.totals[label]:,.0f}"))
        out.append(("series in InfluxDB", f"{self.series:,}" if self.series is not None else "-"))
        return out

    def plain(self) -> str:
        """One line for a log file or a pipe."""
        return f"up {self.elapsed_s:.0f} s: " + ", ".join(f"{what} {value}" for what, value in self.rows())


@dataclass
class StatusProbe:
    """Turns successive counter readings into rates; one instance per run."""

    gateway_port: int | None
    influx_url: str
    database: str
    started: float = field(default_factory=time.monotonic)
    _last: tuple[float, dict[str, float]] | None = None

    def look(self) -> StatusLine:
        now = time.monotonic()
        totals = gateway_counters(self.gateway_port) if self.gateway_port is not None else {}
        rates: dict[str, float] = {}
        if self._last is not None and now > self._last[0]:
            then, before = self._last
            for label in GATEWAY_COUNTERS.values():
                if label in totals and label in before:
                    rates[label] = max(0.0, totals[label] - before[label]) / (now - then)
        self._last = (now, totals)
        return StatusLine(now - self.started, totals, rates, series_cardinality(self.influx_url, self.database))
