"""One benchmark run each: drain a preloaded QoS 1 queue, live QoS 0, steady-rate latency, memory during an outage.

Every run gets a fresh database, topic root and client ids on the same broker and influxd, and checks what it
measured: the points in InfluxDB against what was published, and the broker's drop counter.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.bridges import EarlierGatewayProcess, NaiveBridgeProcess, ProfiledGatewayProcess
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.localservices import InfluxdProcess, MosquittoProcess
from smartcity.localservices.gateway import GatewayProcess
from smartcity.localservices.load import COUNT_FIELD, Load, SteadyPublisher, publish_files
from smartcity.localservices.probes import BrokerCounter, InfluxProbe, RssSampler, cpu_seconds
from smartcity.localservices.process import ManagedProcess

Bridge = str
"""``naive``, ``gateway`` (one process) or ``gateway-x2`` (two processes in one ``$share`` group)."""

_run_ids = itertools.count(1)


@dataclass
class RunResult:
    bridge: Bridge
    qos: int
    mode: str
    published: int
    stored: int
    seconds: float
    dropped: int
    rss_peak: int
    rss_median: int
    cpu_bridge: float = 0.0
    """CPU seconds the bridge process(es) used, start-up included."""
    cpu_influxd: float = 0.0
    cpu_broker: float = 0.0

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Readings stored per CPU second of the bridge: its efficiency, whatever else the machine is doing."""
        return self.stored / self.cpu_bridge if self.cpu_bridge else 0.0

    @property
    def lost(self) -> int:
        return self.published - self.stored


@dataclass
class LatencyResult:
    bridge: Bridge
    sent: int
    stored: int
    latencies_ms: list[float] = field(default_factory=list)
    written_within: dict[str, float] = field(default_factory=dict)
    """Gateway only, from its own histogram: share of readings whose write completed within ``le`` seconds of
    their device timestamp (splits the latency into the gateway's part and InfluxDB making it queryable)."""

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


@dataclass
class OutageResult:
    outage_s: float
    sent: int
    stored: int
    rss_before: int
    rss_peak_during: int
    rss_after: int
    spool_peak: float
    first_write_s: float
    """From influxd being ready again to the first new point in it."""
    catch_up_s: float
    """From influxd being ready again to every point stored."""


@dataclass
class Bench:
    """The shared services and settings of one benchmark invocation."""

    broker: MosquittoProcess
    influxd: InfluxdProcess
    workdir: Path
    city_file: Path
    devices: Sequence[str]
    dropped_counter: BrokerCounter
    batch_size: int | None = None
    batch_ms: int | None = None
    base_tree: Path | None = None
    """A checkout of an earlier commit: the ``gateway-base`` bridge runs the gateway from it (same run, same load)."""

    def measurement(self, bridge: Bridge) -> str:
        return "readings" if bridge == "naive" else "air_quality"

    # -- processes -----------------------------------------------------------------------------------------
    def bridges(
        self, bridge: Bridge, run: str, scheme: TopicScheme, database: str, qos: int, profile_dir: Path | None = None
    ) -> list[ManagedProcess]:
        """The processes of one bridge configuration, not started (under py-spy when ``profile_dir`` is set)."""
        if bridge == "naive":
            args = ["--host", "127.0.0.1", "--port", str(self.broker.port), "--qos", str(qos)]
            args += ["--topic", scheme.device_filter(TopicKind.READING), "--influx-url", self.influxd.url]
            args += ["--db", database, "--measurement", "readings", "--client-id", f"naive-{run}"]
            profile = profile_dir / "naive.collapsed" if profile_dir else None
            return [NaiveBridgeProcess(self.workdir / run / "naive", args, ready_timeout_s=90, profile_to=profile)]
        replicas = 2 if bridge == "gateway-x2" else 1
        env = {"PYTHONPATH": str(self.base_tree)} if bridge == "gateway-base" and self.base_tree else {}
        if bridge == "gateway-base" and not env:
            raise ValueError("the gateway-base bridge needs --base-tree (a checkout of the commit to compare with)")
        process = EarlierGatewayProcess if bridge == "gateway-base" else ProfiledGatewayProcess
        return [
            process(
                self.workdir / run / f"gw{i}",
                self.gateway_env(f"gw{i}-{run}", scheme, database, qos, bridge) | env,
                ready_timeout_s=90,
                profile_to=profile_dir / f"{bridge}-{i}.collapsed" if profile_dir else None,
            )
            for i in range(replicas)
        ]

    def _city_file_for(self, bridge: Bridge) -> Path:
        """The city file; an earlier commit's gateway gets it in schema version 1 (what every commit reads)."""
        if bridge != "gateway-base":
            return self.city_file
        v1 = self.city_file.with_name("city-v1.json")
        if not v1.exists():
            city = json.loads(self.city_file.read_text())
            for key in ("timezone", "departments"):
                city.pop(key, None)
            for facility in city["facilities"]:
                facility.pop("floor_area_m2", None)
            v1.write_text(json.dumps(city | {"schema_version": 1}))
        return v1

    def gateway_env(
        self, client_id: str, scheme: TopicScheme, database: str, qos: int, bridge: Bridge
    ) -> dict[str, str]:
        env = {
            "SMARTCITY_GATEWAY_MQTT__HOST": "127.0.0.1",
            "SMARTCITY_GATEWAY_MQTT__PORT": str(self.broker.port),
            "SMARTCITY_GATEWAY_MQTT__CLIENT_ID": client_id,
            "SMARTCITY_GATEWAY_MQTT__TOPIC_ROOT": scheme.root,
            "SMARTCITY_GATEWAY_INFLUX__URL": self.influxd.url,
            "SMARTCITY_GATEWAY_INFLUX__DATABASE": database,
            "SMARTCITY_GATEWAY_CITY_FILE": str(self._city_file_for(bridge)),
            "SMARTCITY_GATEWAY_QOS": str(qos),
            "SMARTCITY_GATEWAY_LOG_LEVEL": "WARNING",
        }
        if bridge == "gateway-x2":
            env["SMARTCITY_GATEWAY_SHARED_GROUP"] = "bench"
        if self.batch_size:
            env["SMARTCITY_GATEWAY_BATCH_SIZE"] = str(self.batch_size)
        if self.batch_ms:
            env["SMARTCITY_GATEWAY_BATCH_MS"] = str(self.batch_ms)
        return env

    def _fresh(
        self, bridge: Bridge, qos: int, profile_dir: Path | None = None
    ) -> tuple[TopicScheme, InfluxProbe, list[ManagedProcess]]:
        run = f"r{next(_run_ids)}-{bridge}-q{qos}"
        scheme = TopicScheme(root=run.replace("_", "-").lower())
        probe = InfluxProbe(self.influxd.url, run.replace("-", "_"))
        probe.create_database()
        return scheme, probe, self.bridges(bridge, run, scheme, probe.database, qos, profile_dir)

    def _server_cpu(self, since: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
        """CPU seconds of (influxd, mosquitto) so far, minus ``since``."""
        return cpu_seconds(self.influxd.pid) - since[0], cpu_seconds(self.broker.pid) - since[1]

    def dropped(self) -> int:
        return self.dropped_counter.read()

    # -- runs ----------------------------------------------------------------------------------------------
    def drain(
        self,
        bridge: Bridge,
        load: Load,
        files: Sequence[Path],
        *,
        timeout_s: float = 300,
        profile_dir: Path | None = None,
    ) -> RunResult:
        """QoS 1: create the bridge's persistent session(s), stop, preload ``files``, then time the drain.
        With ``profile_dir`` the bridge runs under py-spy (slower: not a figure to report)."""
        if profile_dir:
            profile_dir.mkdir(parents=True, exist_ok=True)
        scheme, probe, processes = self._fresh(bridge, 1, profile_dir)
        _all(processes, lambda p: p.start())
        _all(processes, lambda p: p.stop())
        dropped_before = self.dropped()
        publish_files("127.0.0.1", self.broker.port, scheme, files, qos=1)
        servers = self._server_cpu()
        started = time.monotonic()
        _all(processes, lambda p: p.start())
        with RssSampler([p.pid for p in processes]) as rss:
            stored, done = probe.wait_for_count(
                self.measurement(bridge), COUNT_FIELD, load.total, timeout_s=timeout_s, stall_s=30
            )
        cpu = (sum(cpu_seconds(p.pid) for p in processes), *self._server_cpu(servers))
        _all(processes, lambda p: p.stop())
        probe.close()
        dropped = self.dropped() - dropped_before
        return RunResult(bridge, 1, "drain", load.total, stored, done - started, dropped, rss.peak, rss.median, *cpu)

    def live(self, bridge: Bridge, load: Load, files: Sequence[Path], *, qos: int = 0) -> RunResult:
        """Bridge running and subscribed; fast C publishers push ``files``; time until every point is stored."""
        scheme, probe, processes = self._fresh(bridge, qos)
        _all(processes, lambda p: p.start())
        dropped_before = self.dropped()
        idle_cpu = sum(cpu_seconds(p.pid) for p in processes)
        servers = self._server_cpu()
        with RssSampler([p.pid for p in processes]) as rss:
            started = time.monotonic()
            publish_files("127.0.0.1", self.broker.port, scheme, files, qos=qos)
            stored, done = probe.wait_for_count(
                self.measurement(bridge), COUNT_FIELD, load.total, timeout_s=300, stall_s=10
            )
        cpu = (sum(cpu_seconds(p.pid) for p in processes) - idle_cpu, *self._server_cpu(servers))
        _all(processes, lambda p: p.stop())
        probe.close()
        dropped = self.dropped() - dropped_before
        return RunResult(bridge, qos, "live", load.total, stored, done - started, dropped, rss.peak, rss.median, *cpu)

    def latency(self, bridge: Bridge, *, rate: float, seconds: float) -> LatencyResult:
        """Steady ``rate`` msg/s for ``seconds``; latency = first poll that sees a reading - its publish time."""
        scheme, probe, processes = self._fresh(bridge, 1)
        _all(processes, lambda p: p.start())
        measurement = self.measurement(bridge)
        publisher = SteadyPublisher("127.0.0.1", self.broker.port, scheme, self.devices, rate)
        seen: list[tuple[float, int]] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                count = probe.count(measurement, COUNT_FIELD)
                seen.append((time.time(), count))
                time.sleep(0.025)

        poller = threading.Thread(target=poll, name="latency-poller", daemon=True)
        poller.start()
        publisher.start()
        time.sleep(seconds)
        publisher.stop()
        deadline = time.monotonic() + 30
        while (not seen or seen[-1][1] < publisher.sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        poller.join()
        result = LatencyResult(bridge, publisher.sent, seen[-1][1] if seen else 0)
        if isinstance(processes[0], GatewayProcess):
            result.written_within = _lag_fractions(processes[0].metrics())
        _all(processes, lambda p: p.stop())
        probe.close()
        polls = iter(seen)
        poll_time, poll_count = next(polls, (0.0, 0))
        for n, sent_at in enumerate(publisher.sent_at):
            while poll_count < n + 1:
                next_poll = next(polls, None)
                if next_poll is None:
                    return result
                poll_time, poll_count = next_poll
            result.latencies_ms.append((poll_time - sent_at) * 1000)
        return result

    def outage(self, *, rate: float, outage_s: float, warmup_s: float = 10) -> OutageResult:
        """One gateway under steady load; influxd SIGKILLed for ``outage_s`` then restarted; RSS and spool."""
        scheme, probe, processes = self._fresh("gateway", 1)
        (gateway,) = processes
        assert isinstance(gateway, GatewayProcess)
        gateway.start()
        publisher = SteadyPublisher("127.0.0.1", self.broker.port, scheme, self.devices, rate)
        publisher.start()
        with RssSampler([gateway.pid]) as before:
            time.sleep(warmup_s)
        self.influxd.kill()
        spool: list[float] = []
        with RssSampler([gateway.pid]) as during:
            end = time.monotonic() + outage_s
            while time.monotonic() < end:
                spool.append(gateway.metrics().get("spool_depth", 0.0))
                time.sleep(1)
        self.influxd.start()
        publisher.stop()
        restarted = time.monotonic()
        before_outage = probe.count("air_quality", COUNT_FIELD)
        with RssSampler([gateway.pid]) as after:
            _, first_write = probe.wait_for_count("air_quality", COUNT_FIELD, before_outage + 1, timeout_s=120)
            stored, done = probe.wait_for_count("air_quality", COUNT_FIELD, publisher.sent, timeout_s=300, stall_s=30)
        gateway.stop()
        probe.close()
        return OutageResult(
            outage_s, publisher.sent, stored, before.median, during.peak, after.peak, max(spool, default=0.0),
            first_write - restarted, done - restarted,
        )  # fmt: skip


def _lag_fractions(metrics: dict[str, float]) -> dict[str, float]:
    total = metrics.get("end_to_end_lag_seconds_count", 0.0)
    buckets = {"0.1": "le=0.1", "0.25": "le=0.25", "0.5": "le=0.5"}
    return {
        le: metrics.get(f"end_to_end_lag_seconds_bucket{{{label}}}", 0.0) / total if total else 0.0
        for le, label in buckets.items()
    }


def _all(processes: Sequence[ManagedProcess], action: Callable[[ManagedProcess], object]) -> None:
    """Apply ``action`` to every process at once (starting two replicas one after the other would favour one)."""
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        for future in [pool.submit(action, process) for process in processes]:
            future.result()
