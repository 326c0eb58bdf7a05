"""Gateway scale-out benchmark: 1, 2 and 3 replicas in one ``$share`` group, and a replica killed under load.

    .venv/bin/python -m bench.replicas_bench                     # 200,000 readings per run, about 5 minutes
    .venv/bin/python -m bench.replicas_bench --messages 50000 --load-rate 2500 --load-seconds 20

Starts a private Mosquitto (persistence on, unbounded queues) and a private influxd on free loopback ports, then:

- **Throughput, QoS 1 drain, for each replica count** (as in :mod:`bench.gateway_bench`): the replicas create their
  persistent sessions in one shared subscription group and stop; ``--messages`` readings from C publishers
  (``mosquitto_pub``) are preloaded (the broker's round robin splits them between the offline members' sessions);
  the clock runs from the replicas' start until InfluxDB holds every point. CPU seconds of every gateway process,
  influxd and mosquitto are read from ``/proc``.
- **A replica killed under load**: three replicas run; the load generator (:func:`devices.loadgen.run_load`, the
  simulator's own device sessions, in this process) publishes ``--load-rate`` readings/s for ``--load-seconds``;
  a third of the way in, one replica is SIGKILLed and, ``--down-s`` later, restarted with its client id.
  Conservation is checked: readings published (the simulator's per-device ledger, every one acknowledged by the
  broker) = points stored + dead letters, and per device exactly one point per reading.

Exit status 1 when any run lost a reading or the broker dropped a message.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.bridges import ProfiledGatewayProcess
from bench.gateway_runs import Bench
from devices.loadgen import run_load
from smartcity.contract.topics import TopicScheme
from smartcity.influx.schema import DEAD_LETTERS
from smartcity.localservices import InfluxdProcess, MosquittoProcess
from smartcity.localservices.gateway import GatewayProcess
from smartcity.localservices.load import COUNT_FIELD, Load, bench_city, device_id, publish_files
from smartcity.localservices.probes import BrokerCounter, InfluxProbe, RssSampler, cpu_seconds, rss_bytes
from smartcity.settings import MqttSettings

MEASUREMENT = "air_quality"
MIB = 1024 * 1024
_ids = itertools.count(1)


@dataclass
class DrainResult:
    replicas: int
    published: int
    stored: int
    seconds: float
    dropped: int
    cpu_gateways: list[float]
    cpu_influxd: float
    cpu_broker: float

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    @property
    def per_gateway_cpu_second(self) -> float:
        total = sum(self.cpu_gateways)
        return self.stored / total if total else 0.0


@dataclass
class KillResult:
    published: int
    stored: int
    dead_lettered: int
    devices_exact: int
    devices: int
    seconds: float
    load_rate: float
    received_by_victim_before_kill: float
    redelivered: float
    """Readings the replicas received beyond the ones published: deliveries repeated after the kill."""
    cpu_gateways: list[float] = field(default_factory=list)
    cpu_influxd: float = 0.0
    cpu_broker: float = 0.0
    cpu_load: float = 0.0
    broker_rss_idle: int = 0
    broker_rss_peak: int = 0
    """Mosquitto's RSS before the load generator connected, and its peak with every session up."""

    @property
    def lost(self) -> int:
        return self.published - self.stored - self.dead_lettered


def _all(processes: Sequence[GatewayProcess], action: Callable[[GatewayProcess], object]) -> None:
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        for future in [pool.submit(action, process) for process in processes]:
            future.result()


def _replicas(bench: Bench, count: int, run: str, scheme: TopicScheme, database: str) -> list[GatewayProcess]:
    bridge = "gateway-x2" if count > 1 else "gateway"  # gateway-x2: Bench's shared group setting ("bench")
    return [
        ProfiledGatewayProcess(
            bench.workdir / run / f"gw{i}",
            bench.gateway_env(f"gw{i}-{run}", scheme, database, 1, bridge),
            ready_timeout_s=90,
        )
        for i in range(count)
    ]


def _fresh(bench: Bench, label: str) -> tuple[str, TopicScheme, InfluxProbe]:
    run = f"r{next(_ids)}-{label}"
    probe = InfluxProbe(bench.influxd.url, run.replace("-", "_"))
    probe.create_database()
    return run, TopicScheme(root=run), probe


def drain(bench: Bench, count: int, load: Load, files: Sequence[Path]) -> DrainResult:
    """QoS 1: ``count`` replicas drain a preloaded queue of ``load``; per-process CPU."""
    run, scheme, probe = _fresh(bench, f"x{count}")
    gateways = _replicas(bench, count, run, scheme, probe.database)
    _all(gateways, lambda g: g.start())
    _all(gateways, lambda g: g.stop())
    dropped_before = bench.dropped_counter.read()
    publish_files("127.0.0.1", bench.broker.port, scheme, files, qos=1)
    influxd_before, broker_before = cpu_seconds(bench.influxd.pid), cpu_seconds(bench.broker.pid)
    started = time.monotonic()
    _all(gateways, lambda g: g.start())
    stored, done = probe.wait_for_count(MEASUREMENT, COUNT_FIELD, load.total, timeout_s=300, stall_s=30)
    cpu = [cpu_seconds(g.pid) for g in gateways]
    influxd_cpu = cpu_seconds(bench.influxd.pid) - influxd_before
    broker_cpu = cpu_seconds(bench.broker.pid) - broker_before
    _all(gateways, lambda g: g.stop())
    probe.close()
    dropped = bench.dropped_counter.read() - dropped_before
    return DrainResult(count, load.total, stored, done - started, dropped, cpu, influxd_cpu, broker_cpu)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def kill_run(bench: Bench, *, devices: int, rate: float, seconds: float, down_s: float) -> KillResult:
    """Three replicas, the load generator at ``rate`` for ``seconds``, one replica SIGKILLed and restarted."""
    run, scheme, probe = _fresh(bench, "kill")
    city = bench_city(devices)
    city_file = bench.workdir / run / "city.json"
    city_file.parent.mkdir(parents=True, exist_ok=True)
    city_file.write_text(city.model_dump_json())
    gateways = _replicas(bench, 3, run, scheme, probe.database)
    for gateway in gateways:
        gateway.env["SMARTCITY_GATEWAY_CITY_FILE"] = str(city_file)
    victim = gateways[1]
    before_kill: dict[str, float] = {}

    def kill_and_restart() -> None:
        before_kill["received"] = victim.metrics().get("messages_received_total{kind=reading}", 0.0)
        before_kill["cpu"] = cpu_seconds(victim.pid)
        victim.kill()
        time.sleep(down_s)
        victim.start()

    _all(gateways, lambda g: g.start())
    dropped_before = bench.dropped_counter.read()
    influxd_before, broker_before, load_before = (
        cpu_seconds(bench.influxd.pid),
        cpu_seconds(bench.broker.pid),
        _self_cpu(),
    )
    fault = threading.Timer(seconds / 3, kill_and_restart)
    started = time.monotonic()
    fault.start()
    mqtt = MqttSettings(host="127.0.0.1", port=bench.broker.port, topic_root=scheme.root)
    broker_idle = rss_bytes(bench.broker.pid)
    with RssSampler([bench.broker.pid]) as broker_rss:
        summary = run_load(mqtt, devices=devices, rate=rate, duration_s=seconds, city=city, workers=1)
    load_cpu = _self_cpu() - load_before
    fault.join()
    published = sum(entry.sent for entry in summary.devices.values())
    stored, done = probe.wait_for_count(MEASUREMENT, COUNT_FIELD, published, timeout_s=300, stall_s=30)
    time.sleep(1.0)  # anything still arriving would show now
    stored = probe.count(MEASUREMENT, COUNT_FIELD)
    dead = probe.count(DEAD_LETTERS, "payload_bytes")
    per_device = probe.count_by_tag(MEASUREMENT, COUNT_FIELD, "device")
    exact = sum(1 for device, entry in summary.devices.items() if per_device.get(device, 0) == entry.sent)
    received = sum(g.metrics().get("messages_received_total{kind=reading}", 0.0) for g in gateways)
    received += before_kill.get("received", 0.0)
    cpu = [cpu_seconds(g.pid) for g in gateways]
    cpu[1] += before_kill.get("cpu", 0.0)
    result = KillResult(
        published=published,
        stored=stored,
        dead_lettered=dead,
        devices_exact=exact,
        devices=len(summary.devices),
        seconds=done - started,
        load_rate=summary.msg_per_s,
        received_by_victim_before_kill=before_kill.get("received", 0.0),
        redelivered=received - published,
        cpu_gateways=cpu,
        cpu_influxd=cpu_seconds(bench.influxd.pid) - influxd_before,
        cpu_broker=cpu_seconds(bench.broker.pid) - broker_before,
        cpu_load=load_cpu,
        broker_rss_idle=broker_idle,
        broker_rss_peak=broker_rss.peak,
    )
    _all(gateways, lambda g: g.stop())
    probe.close()
    if bench.dropped_counter.read() != dropped_before:
        print(f"broker dropped {bench.dropped_counter.read() - dropped_before} messages during the kill run")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description="gateway replicas in one $share group: throughput and a kill")
    parser.add_argument("--messages", type=int, default=200_000, help="readings per drain run")
    parser.add_argument("--devices", type=int, default=100, help="devices of the drain load (one C publisher each)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--load-devices", type=int, default=1_000, help="simulator sessions of the kill run")
    parser.add_argument("--load-rate", type=float, default=5_000.0, help="readings/s of the kill run")
    parser.add_argument("--load-seconds", type=float, default=40.0, help="publishing time of the kill run")
    parser.add_argument("--down-s", type=float, default=2.0, help="how long the killed replica stays down")
    args = parser.parse_args()
    if any(count < 1 for count in args.replicas):
        parser.error("--replicas: every count must be at least 1")

    with tempfile.TemporaryDirectory(prefix="replicas-bench-") as tmp:
        workdir = Path(tmp)
        devices = [device_id(i) for i in range(args.devices)]
        city_file = workdir / "city.json"
        city_file.write_text(bench_city(args.devices).model_dump_json())
        load = Load(devices, max(1, args.messages // args.devices), base_ms=int(time.time() * 1000) - 3_600_000)
        files, mean_size = load.write_files(workdir / "load")
        print(f"drain load: {load.total} readings from {len(devices)} devices, {mean_size:.0f} bytes each")
        with (
            MosquittoProcess(workdir / "mosquitto", persistence=True) as broker,
            InfluxdProcess(workdir / "influxd") as influxd,
        ):
            counter = BrokerCounter("127.0.0.1", broker.port)
            bench = Bench(broker, influxd, workdir, city_file, devices, counter)
            drains = []
            for count in args.replicas:
                result = drain(bench, count, load, files)
                drains.append(result)
                print(_drain_row(result), flush=True)
            killed = kill_run(
                bench, devices=args.load_devices, rate=args.load_rate, seconds=args.load_seconds, down_s=args.down_s
            )
            print(_kill_row(killed), flush=True)
            counter.close()
    _report(drains, killed)
    lost = sum(r.published - r.stored + r.dropped for r in drains) + killed.lost
    lost += killed.devices - killed.devices_exact
    if lost:
        print(f"\nFAILED: {lost} readings lost, dropped or stored other than once")
    return 1 if lost else 0


def _cpu(values: Sequence[float]) -> str:
    return " + ".join(f"{value:.1f}" for value in values)


def _drain_row(r: DrainResult) -> str:
    return (
        f"{r.replicas} replica(s): {r.stored}/{r.published} in {r.seconds:.2f} s = {r.rate:,.0f} msg/s, "
        f"broker dropped {r.dropped}; CPU s gateways {_cpu(r.cpu_gateways)}, influxd {r.cpu_influxd:.1f}, "
        f"mosquitto {r.cpu_broker:.1f}"
    )


def _kill_row(r: KillResult) -> str:
    return (
        f"kill run: published {r.published}, stored {r.stored}, dead-lettered {r.dead_lettered}, lost {r.lost}; "
        f"{r.devices_exact}/{r.devices} devices with one point per reading; "
        f"victim had {r.received_by_victim_before_kill:.0f} readings; {r.redelivered:.0f} redelivered; "
        f"load {r.load_rate:,.0f} msg/s; all stored after {r.seconds:.1f} s"
    )


def _report(drains: list[DrainResult], killed: KillResult) -> None:
    print("\n## Replicas in one $share group, QoS 1 drain\n")
    print(
        "| replicas | stored / published | seconds | msg/s | vs 1 | broker drops | CPU s per gateway | CPU s influxd "
        "| CPU s mosquitto | msg per gateway CPU-s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    one = next((r for r in drains if r.replicas == 1), None)
    for r in drains:
        ratio = f"{r.rate / one.rate:.2f}x" if one and one.rate else "-"
        print(
            f"| {r.replicas} | {r.stored:,} / {r.published:,} | {r.seconds:.2f} | {r.rate:,.0f} | {ratio} | "
            f"{r.dropped} | {_cpu(r.cpu_gateways)} | {r.cpu_influxd:.1f} | {r.cpu_broker:.1f} | "
            f"{r.per_gateway_cpu_second:,.0f} |"
        )
    print("\n## Three replicas, one SIGKILLed mid-stream and restarted with its client id\n")
    print(
        "| published | stored | dead-lettered | lost | devices with one point per reading | load msg/s "
        "| redelivered | CPU s per gateway | CPU s influxd / mosquitto / load generator | mosquitto RSS idle / peak |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {killed.published:,} | {killed.stored:,} | {killed.dead_lettered} | {killed.lost} | "
        f"{killed.devices_exact:,} / {killed.devices:,} | {killed.load_rate:,.0f} | {killed.redelivered:,.0f} | "
        f"{_cpu(killed.cpu_gateways)} | {killed.cpu_influxd:.1f} / {killed.cpu_broker:.1f} / {killed.cpu_load:.1f} | "
        f"{killed.broker_rss_idle / MIB:.1f} / {killed.broker_rss_peak / MIB:.1f} MiB |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
