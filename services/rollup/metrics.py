"""The roll-up worker's Prometheus metrics, all prefixed ``smartcity_rollup_``, on a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_P = "smartcity_rollup_"


class RollupMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.lag = Gauge(f"{_P}lag_seconds", "now minus the end of the last completed hour window", registry=r)
        self.backlog = Gauge(f"{_P}backlog_windows", "closed hour windows not yet rolled up (catch-up)", registry=r)
        self.windows = Counter(f"{_P}windows", "windows computed, by tier", ["tier"], registry=r)
        self.late_windows = Counter(f"{_P}late_windows", "hour windows recomputed for late data", registry=r)
        self.points = Counter(f"{_P}points_written", "roll-up points written, by tier", ["tier"], registry=r)
        self.failures = Counter(f"{_P}failures", "cycles that failed (InfluxDB unreachable or refusing)", registry=r)
        self.hour_seconds = Histogram(
            f"{_P}hour_seconds",
            "time to roll up one hour window (minutes and hour)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
