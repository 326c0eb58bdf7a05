"""Gateway benchmark: ours against the naive bridge, same broker, same influxd, same load, same run.

    .venv/bin/python -m bench.gateway_bench [--messages 200000] [--qos 0 1] [--quick]

Starts a private Mosquitto (persistence on, unbounded queues) and a private influxd, then measures:

- QoS 1 drain: each bridge's persistent session is created, the bridge stopped, ``--messages`` readings are
  preloaded into its queue by C publishers, and the time from the bridge's start until InfluxDB holds every
  point is measured (a live QoS 1 run would measure the publisher's window, not the bridge).
- QoS 0 live: QoS 0 has no queue for offline subscribers, so the bridge runs and C publishers push the load.
- latency at a steady rate (publish to queryable), and RSS with InfluxDB down for ``--outage-s``.

Every figure is checked: points in InfluxDB against readings published, and the broker's drop counter.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench import profiling
from bench.gateway_runs import Bench, LatencyResult, OutageResult, RunResult
from smartcity.localservices import InfluxdProcess, MosquittoProcess
from smartcity.localservices.load import Load, bench_city, device_id
from smartcity.localservices.probes import BrokerCounter

BRIDGES = ("naive", "gateway", "gateway-x2", "gateway-base")
MIB = 1024 * 1024


def main() -> int:
    """Run the benchmark; exit status 1 when any run lost a reading (the figures are only valid without loss)."""
    parser = argparse.ArgumentParser(description="gateway throughput, latency and memory against the naive bridge")
    parser.add_argument("--messages", type=int, default=200_000, help="readings per throughput run")
    parser.add_argument("--devices", type=int, default=100, help="devices (one C publisher each)")
    parser.add_argument("--qos", type=int, nargs="+", choices=(0, 1), default=[1, 0])
    parser.add_argument("--bridges", nargs="+", choices=BRIDGES, default=list(BRIDGES[:3]))
    parser.add_argument(
        "--base-tree",
        type=Path,
        default=None,
        help="checkout of an earlier commit (git worktree add DIR REV): adds the gateway-base bridge, run from it",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of throughput runs; the best is reported")
    parser.add_argument("--latency-s", type=float, default=20.0, help="length of each latency run (0 skips)")
    parser.add_argument("--latency-rate", type=float, default=1000.0)
    parser.add_argument("--outage-s", type=float, default=60.0, help="influxd down this long (0 skips)")
    parser.add_argument("--batch-size", type=int, default=None, help="gateway BATCH_SIZE (default: its own)")
    parser.add_argument("--batch-ms", type=int, default=None, help="gateway BATCH_MS (default: its own)")
    parser.add_argument("--quick", action="store_true", help="50k messages, 10 s latency, 20 s outage")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--profile", type=Path, default=None, help="also drain once more under py-spy, write profiles here"
    )
    args = parser.parse_args()
    if args.base_tree is not None:
        args.base_tree = args.base_tree.resolve()
        if "gateway-base" not in args.bridges:
            args.bridges.append("gateway-base")
    if args.quick:
        args.messages, args.latency_s, args.outage_s = min(args.messages, 50_000), 10.0, 20.0

    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        workdir = Path(tmp)
        devices = [device_id(i) for i in range(args.devices)]
        city_file = workdir / "city.json"
        city_file.write_text(bench_city(args.devices).model_dump_json())
        per_device = max(1, args.messages // args.devices)
        load = Load(devices, per_device, base_ms=int(time.time() * 1000) - 3_600_000)
        files, mean_size = load.write_files(workdir / "load")
        print(f"load: {load.total} readings from {len(devices)} devices, {mean_size:.0f} bytes each on average")
        with (
            MosquittoProcess(workdir / "mosquitto", persistence=True) as broker,
            InfluxdProcess(workdir / "influxd") as influxd,
        ):
            dropped = BrokerCounter("127.0.0.1", broker.port)
            bench = Bench(
                broker, influxd, workdir, city_file, devices, dropped, args.batch_size, args.batch_ms, args.base_tree
            )
            throughput: list[RunResult] = []
            # Bridges take turns, round after round: load from other processes on the machine then hits all of
            # them alike, and the best round of each is reported.
            for _ in range(args.repeat):
                for qos in args.qos:
                    for bridge in args.bridges:
                        run = bench.drain(bridge, load, files) if qos == 1 else bench.live(bridge, load, files, qos=0)
                        throughput.append(run)
                        print(_row(run), flush=True)
            latencies = [
                bench.latency(bridge, rate=args.latency_rate, seconds=args.latency_s)
                for bridge in ("naive", "gateway")
                if args.latency_s > 0 and bridge in args.bridges
            ]
            if args.profile:
                # A quarter of the load is enough samples, and py-spy slows the bridge anyway.
                quarter = max(1, len(devices) // 4)
                profile_load = Load(devices[:quarter], load.per_device, load.base_ms, load.step_ms)
                for bridge in args.bridges:
                    bench.drain(bridge, profile_load, files[:quarter], profile_dir=args.profile)
                    for path in sorted(args.profile.glob(f"{bridge}*.collapsed")):
                        summary = profiling.summarize(path)
                        path.with_suffix(".txt").write_text(summary + "\n")
                        print(f"\nprofile of {path.stem} draining the QoS 1 queue (under py-spy):\n{summary}")
            with_outage = args.outage_s > 0 and "gateway" in args.bridges
            outage = bench.outage(rate=args.latency_rate, outage_s=args.outage_s) if with_outage else None
            dropped.close()
        _report(throughput, latencies, outage)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "throughput": [
                            asdict(r) | {"rate": r.rate, "per_cpu_second": r.per_cpu_second} for r in throughput
                        ],
                        "latency": [
                            {"bridge": r.bridge, "sent": r.sent, "stored": r.stored, "written_within": r.written_within}
                            | {f"p{p}": r.percentile(p) for p in (50, 95, 99)}
                            for r in latencies
                        ],
                        "outage": asdict(outage) if outage else None,
                    },
                    indent=2,
                )
            )
    lost = sum(r.lost + r.dropped for r in throughput) + sum(r.sent - r.stored for r in latencies)
    lost += outage.sent - outage.stored if outage else 0
    if lost:
        print(f"\nFAILED: {lost} readings lost or dropped: these figures do not count as zero-loss throughput.")
    return 1 if lost else 0


def _row(run: RunResult) -> str:
    return (
        f"{run.bridge:<11} QoS {run.qos} {run.mode:<5} {run.stored:>8}/{run.published:<8} {run.seconds:7.2f} s "
        f"{run.rate:>9,.0f} msg/s  lost {run.lost:>6}  broker dropped {run.dropped:>6}  "
        f"RSS peak {run.rss_peak / MIB:6.1f} MiB  CPU s: bridge {run.cpu_bridge:.1f} influxd {run.cpu_influxd:.1f} "
        f"mosquitto {run.cpu_broker:.1f}"
    )


def _report(throughput: list[RunResult], latencies: list[LatencyResult], outage: OutageResult | None) -> None:
    print("\n## Throughput (end to end, counted in InfluxDB; best round of each)\n")
    print(
        "| bridge | QoS | mode | stored / published | seconds | msg/s | vs naive | broker drops | RSS peak "
        "| CPU s bridge / influxd / mosquitto | msg per bridge CPU-s | vs naive |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    best: dict[tuple[str, int, str], RunResult] = {}
    for run in throughput:
        key = (run.bridge, run.qos, run.mode)
        if key not in best or run.rate > best[key].rate:
            best[key] = run
    naive = {(r.qos, r.mode): r for r in best.values() if r.bridge == "naive"}
    for run in best.values():
        base = naive.get((run.qos, run.mode))
        ratio = f"{run.rate / base.rate:.2f}x" if base and base.rate else "-"
        cpu_ratio = f"{run.per_cpu_second / base.per_cpu_second:.2f}x" if base and base.per_cpu_second else "-"
        print(
            f"| {run.bridge} | {run.qos} | {run.mode} | {run.stored:,} / {run.published:,} | {run.seconds:.2f} | "
            f"{run.rate:,.0f} | {ratio} | {run.dropped} | {run.rss_peak / MIB:.0f} MiB | "
            f"{run.cpu_bridge:.1f} / {run.cpu_influxd:.1f} / {run.cpu_broker:.1f} | {run.per_cpu_second:,.0f} | "
            f"{cpu_ratio} |"
        )
    earlier = {(r.qos, r.mode): r for r in best.values() if r.bridge == "gateway-base"}
    for run in best.values():
        base = earlier.get((run.qos, run.mode))
        if run.bridge == "gateway" and base and base.rate:
            print(f"\ngateway QoS {run.qos} {run.mode}: {run.rate / base.rate:.2f}x the earlier commit's gateway")
    lost, drops = sum(r.lost for r in throughput), sum(r.dropped for r in throughput)
    print(f"\nAll {len(throughput)} runs: {lost} readings lost, {drops} messages dropped by the broker.")
    if latencies:
        print("\n## Publish-to-queryable latency\n")
        print("| bridge | readings | stored | p50 ms | p95 ms | p99 ms | written within 100 / 250 / 500 ms |")
        print("|---|---|---|---|---|---|---|")
        for lat in latencies:
            print(
                f"| {lat.bridge} | {lat.sent:,} | {lat.stored:,} | {lat.percentile(50):.0f} | "
                f"{lat.percentile(95):.0f} | {lat.percentile(99):.0f} | "
                + (" / ".join(f"{100 * v:.1f} %" for v in lat.written_within.values()) or "-")
                + " |"
            )
    if outage:
        print(f"\n## Memory with InfluxDB down for {outage.outage_s:.0f} s (one gateway)\n")
        print(
            "| RSS before | RSS peak, outage | RSS peak, catching up | spool peak (points) | first write s "
            "| all stored s | stored / sent |"
        )
        print("|---|---|---|---|---|---|---|")
        print(
            f"| {outage.rss_before / MIB:.0f} MiB | {outage.rss_peak_during / MIB:.0f} MiB | "
            f"{outage.rss_after / MIB:.0f} MiB | {outage.spool_peak:,.0f} | {outage.first_write_s:.1f} | "
            f"{outage.catch_up_s:.1f} | "
            f"{outage.stored:,} / {outage.sent:,} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
