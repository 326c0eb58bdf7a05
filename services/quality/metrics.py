"""The quality worker's Prometheus metrics, all prefixed ``smartcity_quality_``, on a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

_P = "smartcity_quality_"


class QualityMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.open_flags = Gauge(f"{_P}open_flags", "flags whose condition lasts, by kind", ["kind"], registry=r)
        self.written = Counter(
            f"{_P}flags_written", "flag points written, by kind and state (open, closed)", ["kind", "state"], registry=r
        )
        self.hours = Counter(f"{_P}hours", "hour passes completed", registry=r)
        self.backlog = Gauge(f"{_P}backlog_hours", "rolled-up hours not judged yet (catch-up)", registry=r)
        self.lag = Gauge(f"{_P}lag_seconds", "now minus the end of the last judged hour", registry=r)
        self.peerless = Gauge(
            f"{_P}peerless_series", "series whose drift has no peers to be judged against (last hour pass)", registry=r
        )
        self.failures = Counter(f"{_P}failures", "cycles that failed (InfluxDB unreachable or refusing)", registry=r)
