"""Processes and probes shared by the gateway benchmark and the gateway's end-to-end fault tests.

- :class:`GatewayProcess` runs ``smartcity gateway`` as a subprocess configured by environment variables;
  :class:`NaiveBridgeProcess` runs the baseline bridge. Both are :class:`ManagedProcess` es: own log file,
  bounded readiness wait, stop (SIGTERM) / kill (SIGKILL) by PID, restart with the same settings.
- :class:`InfluxProbe` counts points with InfluxQL bind parameters; :func:`broker_counter` reads a broker
  ``$SYS`` counter; :func:`rss_bytes` reads a process's resident memory from ``/proc``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from smartcity.localservices.process import ManagedProcess, log_tail

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
"""Messages the broker dropped (queue limits, oversized): must not move during a zero-loss run."""

METRICS_PREFIX = "smartcity_gateway_"


class BridgeProcess(ManagedProcess):
    """A bridge under test, optionally run under ``py-spy record`` (py-spy cannot attach to this Python, but it
    can start it). While profiled, :attr:`pid` is py-spy's; :meth:`stop` signals the bridge itself so that it
    shuts down as usual and py-spy writes its samples when it exits."""

    def __init__(self, workdir: Path, *, log_name: str, ready_timeout_s: float, profile_to: Path | None) -> None:
        super().__init__(workdir, log_name=log_name, ready_timeout_s=ready_timeout_s)
        self.profile_to = profile_to

    def _bridge_command(self) -> list[str]:
        raise NotImplementedError

    def _command(self) -> list[str]:
        if self.profile_to is None:
            return self._bridge_command()
        spy = str(Path(sys.executable).parent / "py-spy")
        record = [spy, "record", "--format", "raw", "--rate", "100", "--output", str(self.profile_to)]
        return [*record, "--", *self._bridge_command()]

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.profile_to is not None and self.running:
            for child in _children(self.pid):
                os.kill(child, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.running and time.monotonic() < deadline:
                time.sleep(0.05)  # py-spy writes its samples once the bridge has exited
        super().stop(timeout_s)


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return children


class GatewayProcess(BridgeProcess):
    """``smartcity gateway`` in ``workdir`` (``gateway.log``, ``spool/``), ready when ``/readyz`` answers 200.

    ``env`` holds the ``SMARTCITY_GATEWAY_*`` variables; the spool directory and ``HTTP_PORT=0`` are set here
    (the gateway writes the port it bound to ``spool/http.port``).
    """

    name = "gateway"

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        *,
        ready_timeout_s: float = 30.0,
        profile_to: Path | None = None,
    ) -> None:
        super().__init__(workdir, log_name="gateway.log", ready_timeout_s=ready_timeout_s, profile_to=profile_to)
        self.spool_dir = self.workdir / "spool"
        self.env = {
            **env,
            "SMARTCITY_GATEWAY_SPOOL_DIR": str(self.spool_dir),
            "SMARTCITY_GATEWAY_HTTP_PORT": "0",
        }
        self._http_port: int | None = None

    def _bridge_command(self) -> list[str]:
        return [sys.executable, "-m", "smartcity.cli", "gateway"]

    def _environment(self) -> Mapping[str, str]:
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("SMARTCITY_")}
        return {**inherited, **self.env}

    def _prepare(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # A port file left by the previous run names a port that is closed now; wait for the new one.
        (self.spool_dir / "http.port").unlink(missing_ok=True)
        self._http_port = None

    def _is_ready(self) -> bool:
        try:
            return self._get("/readyz").status_code == 200
        except (httpx.HTTPError, OSError, ValueError):
            return False

    @property
    def http_url(self) -> str:
        if self._http_port is None:
            self._http_port = int((self.spool_dir / "http.port").read_text().strip())
        return f"http://127.0.0.1:{self._http_port}"

    def _get(self, path: str) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            return client.get(self.http_url + path)

    def metrics(self) -> dict[str, float]:
        """Current ``/metrics`` samples without the ``smartcity_gateway_`` prefix, keyed ``name`` or
        ``name{label=value,...}`` (labels sorted)."""
        response = self._get("/metrics")
        response.raise_for_status()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if not sample.name.startswith(METRICS_PREFIX):
                    continue
                name = sample.name.removeprefix(METRICS_PREFIX)
                if sample.labels:
                    name += "{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}"
                samples[name] = sample.value
        return samples

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


class NaiveBridgeProcess(BridgeProcess):
    """``python -m bench.baselines.naive_bridge``, ready once its log says it subscribed, or that the broker kept
    its session (then the subscription exists already, and the SUBACK may queue behind a backlog)."""

    name = "naive-bridge"

    def __init__(
        self, workdir: Path, args: Sequence[str], *, ready_timeout_s: float = 30.0, profile_to: Path | None = None
    ) -> None:
        super().__init__(workdir, log_name="naive-bridge.log", ready_timeout_s=ready_timeout_s, profile_to=profile_to)
        self.args = list(args)
        self._log_offset = 0

    def _bridge_command(self) -> list[str]:
        return [sys.executable, "-m", "bench.baselines.naive_bridge", *self.args]

    def _prepare(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0

    def _is_ready(self) -> bool:
        with self.log_path.open("rb") as log_file:
            log_file.seek(self._log_offset)
            text = log_file.read()
        return b"subscribed to" in text or b"session present: True" in text


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
        poll_s: float = 0.2,
    ) -> tuple[int, float]:
        """Poll until ``expected`` points are stored; return (count, monotonic time it was reached or given up).

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
            time.sleep(poll_s)


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
