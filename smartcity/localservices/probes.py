"""Read-only probes of local services for the benchmarks and end-to-end tests: points in InfluxDB (InfluxQL with bind
parameters), a broker ``$SYS`` counter, and a process's CPU time and resident memory from ``/proc``."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
"""Messages the broker dropped (queue limits, oversized): must not move during a zero-loss run."""


class InfluxProbe:
    """Read-only questions to one database, always with bind parameters."""

    def __init__(self, url: str, database: str) -> None:
        self.database = database
        self._client = httpx.Client(base_url=url, trust_env=False, timeout=30.0)

    def close(self) -> None:
        self._client.close()

    def create_database(self) -> None:
        self._statement(f'CREATE DATABASE "{self.database}"')

    def _statement(self, statement: str) -> None:
        response = self._client.post("/query", data={"q": statement})
        response.raise_for_status()

    def query(self, statement: str, **params: object) -> list[dict[str, object]]:
        """The series of the first result (``[]`` when it has none); raises on an InfluxQL error."""
        response = self._client.get(
            "/query", params={"db": self.database, "q": statement, "params": json.dumps(params), "epoch": "ms"}
        )
        response.raise_for_status()
        result = response.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"{statement!r}: {result['error']}")
        series: list[dict[str, object]] = result.get("series", [])
        return series

    def count(self, measurement: str, field: str, since_ms: int = 0) -> int:
        """Points of ``measurement`` with ``field`` set, at or after ``since_ms``."""
        series = self.query(
            f'SELECT count("{field}") FROM "{measurement}" WHERE time >= $since', since=since_ms * 1_000_000
        )
        if not series:
            return 0
        values = series[0]["values"]
        assert isinstance(values, list)
        return int(values[0][1])

    def count_by_tag(self, measurement: str, field: str, tag: str, since_ms: int = 0) -> dict[str, int]:
        """Points per value of ``tag``."""
        series = self.query(
            f'SELECT count("{field}") FROM "{measurement}" WHERE time >= $since GROUP BY "{tag}"',
            since=since_ms * 1_000_000,
        )
        counts: dict[str, int] = {}
        for one in series:
            tags, values = one["tags"], one["values"]
            assert isinstance(tags, dict)
            assert isinstance(values, list)
            counts[str(tags[tag])] = int(values[0][1])
        return counts

    def times(self, measurement: str, field: str, tag: str, value: str, since_ms: int = 0) -> list[int]:
        """Timestamps (ms) of the points whose ``tag`` is ``value``."""
        series = self.query(
            f'SELECT "{field}" FROM "{measurement}" WHERE "{tag}" = $value AND time >= $since',
            value=value,
            since=since_ms * 1_000_000,
        )
        if not series:
            return []
        values = series[0]["values"]
        assert isinstance(values, list)
        return [int(row[0]) for row in values]

    def wait_for_count(
        self,
        measurement: str,
        field: str,
        expected: int,
        *,
        since_ms: int = 0,
        timeout_s: float,
        stall_s: float = 0,
        poll_s: float = 1.0,
        fine_poll_s: float = 0.05,
    ) -> tuple[int, float]:
        """Poll until ``expected`` points are stored; return (count, monotonic time it was reached or given up).

        Polls every ``poll_s`` until 95 % are there, then every ``fine_poll_s``: a count over the whole
        measurement costs influxd CPU that the bridge under test would miss on a small machine.
        Gives up after ``timeout_s``, or after ``stall_s`` without progress when ``stall_s`` > 0.
        """
        deadline = time.monotonic() + timeout_s
        last, last_change = -1, time.monotonic()
        while True:
            count = self.count(measurement, field, since_ms)
            now = time.monotonic()
            if count >= expected:
                return count, now
            if count != last:
                last, last_change = count, now
            if now > deadline or (stall_s and now - last_change > stall_s):
                return count, now
            time.sleep(fine_poll_s if count >= 0.95 * expected else poll_s)


class BrokerCounter:
    """Follows one numeric broker ``$SYS`` topic from a long-lived subscription.

    Mosquitto publishes a ``$SYS`` value only when it changes, retained but with a 60 s message expiry, so a
    client that subscribes later may get nothing at all: subscribe right after the broker starts and keep
    listening.
    """

    def __init__(self, host: str, port: int, topic: str = DROPPED_TOPIC, timeout_s: float = 10.0) -> None:
        self.value: int | None = None
        arrived = threading.Event()

        def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            self.value = int(float(msg.payload))
            arrived.set()

        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self._client.on_message = on_message
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=0)
        self._client.connect(host, port)
        self._client.loop_start()
        if not arrived.wait(timeout_s):
            self.close()
            raise TimeoutError(f"the broker published nothing on {topic} within {timeout_s:.0f} s")

    def read(self) -> int:
        time.sleep(1.5)  # the broker publishes $SYS every second (sys_interval 1): let a pending change arrive
        assert self.value is not None
        return self.value

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a running process has used so far (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of a running process (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class RssSampler:
    """Samples the summed RSS of some processes every ``interval_s`` in a thread."""

    def __init__(self, pids: Sequence[int], interval_s: float = 0.5) -> None:
        self.pids = list(pids)
        self.interval_s = interval_s
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append(sum(rss_bytes(pid) for pid in self.pids))
            if self._stop.wait(self.interval_s):
                return

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    @property
    def median(self) -> int:
        ordered = sorted(self.samples)
        return ordered[len(ordered) // 2] if ordered else 0
