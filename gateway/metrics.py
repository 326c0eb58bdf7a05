"""The gateway's Prometheus metrics, all prefixed ``smartcity_gateway_``, on a registry of their own so that
tests (and several gateways in one process) never share counters."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

_PREFIX = "smartcity_gateway_"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class BulkHistogram(Collector):
    """A Prometheus histogram fed many values at once (one per reading of a batch): ``Histogram.observe`` takes a
    lock and walks the buckets per call, which showed up in profiles of the write path."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = list(buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        counts, bounds = self._counts, self._bounds
        total = 0.0
        for value in values:
            counts[bisect_left(bounds, value)] += 1
            total += value
        self._sum += total

    @property
    def count(self) -> int:
        return sum(self._counts)

    @property
    def sum(self) -> float:
        return self._sum

    def collect(self) -> Iterator[Metric]:
        cumulative, buckets = 0, []
        for bound, count in zip([*map(str, self._bounds), "+Inf"], self._counts, strict=True):
            cumulative += count
            buckets.append((bound, float(cumulative)))
        yield HistogramMetricFamily(self._name, self._documentation, buckets=buckets, sum_value=self._sum)


class GatewayMetrics:
    """Every metric the gateway exports (see docs/GATEWAY.md for what each one means)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages_received = Counter(
            f"{_PREFIX}messages_received", "MQTT messages received, by topic kind", ["kind"], registry=r
        )
        self.readings_accepted = Counter(f"{_PREFIX}readings_accepted", "readings that passed validation", registry=r)
        self.points_written = Counter(f"{_PREFIX}points_written", "points InfluxDB answered 204 for", registry=r)
        self.rejected = Counter(f"{_PREFIX}rejected", "inputs dead-lettered, by reason", ["reason"], registry=r)
        self.duplicates = Counter(f"{_PREFIX}duplicates", "readings with a device and seq seen recently", registry=r)
        self.gaps = Counter(f"{_PREFIX}sequence_gaps", "sequence numbers never seen (loss upstream)", registry=r)
        self.write_retries = Counter(f"{_PREFIX}write_retries", "InfluxDB writes retried after an error", registry=r)
        self.spooled_points = Counter(f"{_PREFIX}spooled_points", "points appended to the local spool", registry=r)
        self.dead_letters_failed = Counter(
            f"{_PREFIX}dead_letter_publish_failures",
            "live dead-letter copies the broker did not take (the stored record is kept)",
            registry=r,
        )
        self.records_lost = Counter(
            f"{_PREFIX}records_lost",
            "dead-letter points InfluxDB refused (logged at ERROR with their content; should stay 0)",
            registry=r,
        )
        self.anchors_unsaved = Counter(
            f"{_PREFIX}anchors_unsaved",
            "batches written although their relative-time anchors could not be saved (a redelivery may shift them)",
            registry=r,
        )
        self.clock_offset = Gauge(
            f"{_PREFIX}clock_offset_seconds", "our clock minus InfluxDB's at the last check", registry=r
        )
        self.spool_depth = Gauge(f"{_PREFIX}spool_depth", "points waiting in the local spool", registry=r)
        self.inflight_unacked = Gauge(
            f"{_PREFIX}inflight_unacked", "QoS 1 messages received and not yet acknowledged", registry=r
        )
        self.broker_connected = Gauge(f"{_PREFIX}broker_connected", "1 while connected to the broker", registry=r)
        self.influx_up = Gauge(f"{_PREFIX}influx_up", "1 while InfluxDB accepts writes", registry=r)
        self.batch_write_seconds = Histogram(
            f"{_PREFIX}batch_write_seconds", "time to make one batch durable", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.end_to_end_lag_seconds = BulkHistogram(
            f"{_PREFIX}end_to_end_lag_seconds",
            "device timestamp to the point being written (includes device clock skew)",
            _LAG_BUCKETS,
            r,
        )
