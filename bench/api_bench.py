"""Planning API benchmark: latest values of a district, a 30-day hourly indicator for all districts and a device's
7-day 1-minute history, each under 32 concurrent clients, against the InfluxQL the route sends, straight to
influxd with the same concurrency, in the same run.

    .venv/bin/python -m bench.api_bench [--requests 1000] [--clients 32] [--rounds 1] [--quick] [--profile DIR]

The data set (``bench.api_dataset``: a 10,000-device city, 30 days of roll-ups) is built on the first run, about
five minutes, and reused from ``.cache/api-bench/`` after. Then:

1. ``smartcity api`` (uvicorn, its production defaults but a 31-day latest window, so a data set built days ago
   still has latest values) starts pointed at a recording forwarder in front of influxd (``bench.api_proxy``);
   every benchmarked URL is asked once and the InfluxDB requests it caused are kept. ``/v1/latest`` causes none
   (the last-value cache answers): its direct baseline is the cache's own statement, one ``SELECT LAST`` per
   metric, restricted to the district (what answering from the store would cost).
2. A second ``smartcity api``, pointed at influxd itself, takes the load: per route ``--requests`` requests after
   a warm-up, ``--clients`` at a time back to back, then the recorded InfluxQL of the same URLs with the same
   client and concurrency. Ratio = API latency / direct latency (p50 and p99).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench import profiling
from bench.api_dataset import DataSet, DataSpec, serving
from bench.api_load import Phase, api_op, direct_op, run_phase
from bench.api_process import ApiProcess, api_env, create_planner_key
from bench.api_proxy import InfluxRequest
from bench.api_routes import Route, iso, record, routes
from bench.api_writer import wait_idle
from bench.bridges import BridgeProcess
from smartcity.localservices.process import log_tail

RATIO_GOAL = 1.5


class ProfiledApiProcess(BridgeProcess, ApiProcess):
    """The API under ``py-spy record`` (py-spy starts it: it cannot attach to this Python)."""

    def __init__(self, workdir: Path, env: dict[str, str], key: str, probe: str, profile_to: Path) -> None:
        super().__init__(workdir, env, key, probe)
        self.profile_to = profile_to


async def measure(
    data: DataSet,
    api: ApiProcess,
    influxd_pid: int,
    key: str,
    rs: list[Route],
    recorded: dict[str, list[InfluxRequest]],
    failed: dict[str, str],
    args: argparse.Namespace,
) -> list[Phase]:
    """Every route's phases, API then direct, round after round (a route that failed to record only fails)."""
    pids = {"api": api.pid, "influxd": influxd_pid}
    phases: list[Phase] = []
    for round_number in range(1, args.rounds + 1):
        for route in rs:
            if route.name in failed:
                phases += [Phase(route.name, side, error=failed[route.name]) for side in ("api", "influxdb")]
                continue
            sides = (
                ("api", api.url, [api_op(url, key) for url in route.urls]),
                ("influxdb", data.influx.url, [direct_op(recorded[url]) for url in route.urls]),
            )
            for side, base_url, ops in sides:
                load = _load(args) | {"requests": route.requests if side == "api" else route.direct_requests}
                await asyncio.to_thread(wait_idle, influxd_pid, busy_share=0.1, quiet_s=3.0)  # the last phase's queries
                phase = await run_phase(Phase(route.name, side), base_url, ops, pids=pids, **load)
                phases.append(phase)
                if phase.error is not None:
                    print(f"  round {round_number} {route.name} FAILED against {side}: {phase.error}")
                    print(f"  the API's log ends:\n{log_tail(api.log_path, 15)}", flush=True)
                    continue
                print(
                    f"  round {round_number} {route.name:<34} {side:<8} {len(phase.latencies_ms):>5} requests "
                    f"{phase.wall_s:6.1f} s  {phase.rate:7.1f}/s  p50 {phase.percentile(50):7.1f} ms  "
                    f"p99 {phase.percentile(99):7.1f} ms  others {phase.others_cores:.2f} cores"
                    + (f"  not 200: {dict(phase.failures)}, first {phase.failure[:200]}" if phase.failures else ""),
                    flush=True,
                )
    return phases


def _load(args: argparse.Namespace) -> dict[str, Any]:
    return {"clients": args.clients, "requests": args.requests, "warmup": args.warmup, "limit_s": args.phase_s}


def report(rs: list[Route], phases: list[Phase], args: argparse.Namespace, data: DataSet) -> None:
    best: dict[tuple[str, str], Phase] = {}
    for phase in phases:  # the round with the lowest p99 of each (the least disturbed one) that did not fail
        held = best.get((phase.route, phase.side))
        if held is None or held.error or (not phase.error and phase.percentile(99) < held.percentile(99)):
            best[(phase.route, phase.side)] = phase
    points = ", ".join(f"{tier} {n:,}" for tier, n in data.points.items())
    print(f"\n## Planning API, {args.clients} concurrent clients\n")
    print(f"data set: {len(data.city.devices):,} devices, {len(data.city.districts)} districts; points {points}\n")
    print(
        "| route | requests | API p50 / p95 / p99 ms | req/s | p99 target | direct InfluxQL p50 / p95 / p99 ms | req/s "
        "| API / direct p50, p99 | CPU ms per request: API, influxd, client; the rest of the machine |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for route in rs:
        api, direct = best[(route.name, "api")], best[(route.name, "influxdb")]
        if api.error or direct.error:
            print(f"| {route.what} | FAILED: {api.error or direct.error} |")
            continue
        met = "met" if api.percentile(99) < route.target_ms else "MISSED"
        ratio = f"{api.percentile(50) / direct.percentile(50):.2f}x, {api.percentile(99) / direct.percentile(99):.2f}x"
        cpu = f"{_cpu(api, 'api')}, {_cpu(api, 'influxd')}, {_cpu(api, 'client')}"
        cpu += f" (direct: {_cpu(direct, 'influxd')}, {_cpu(direct, 'client')})"
        cpu += f"; others {api.others_cores:.2f} / {direct.others_cores:.2f} cores"
        counts = f"{_count(api)} / {_count(direct)}"
        print(
            f"| {route.what} | {counts} | {_ms(api)} | {api.rate:,.0f} "
            f"| < {route.target_ms:.0f} ms: {met} | {_ms(direct)} | "
            f"{direct.rate:,.0f} | {ratio} | {cpu} |"
        )
    print(
        f"\nratio goal: API / direct <= {RATIO_GOAL}x; latency from request sent to whole body received, at the client"
    )


def _count(phase: Phase) -> str:
    failed = ", ".join(f"{n} answered {status}" for status, n in sorted(phase.failures.items()))
    return f"{len(phase.latencies_ms):,}" + (f" ({failed})" if failed else "")


def _cpu(phase: Phase, who: str) -> str:
    return f"{phase.cpu_ms_per_request(who):.1f}"


def _ms(phase: Phase) -> str:
    return " / ".join(f"{phase.percentile(p):.1f}" for p in (50, 95, 99))


def profile(
    data: DataSet, state_file: Path, key: str, rs: list[Route], args: argparse.Namespace, workdir: Path
) -> None:
    """Each route's API phase once more with the API under ``py-spy record`` (not timed: the profiler slows it)."""
    args.profile.mkdir(parents=True, exist_ok=True)
    for route in rs:
        target = args.profile / f"api-{route.name.replace(' ', '-')}.collapsed"
        env = api_env(data.city_file, data.influx.url, data.influx.database, state_file, tree=args.api_tree)
        api = ProfiledApiProcess(workdir / f"profile-{route.name}", env, key, rs[0].urls[0], target)
        api.start()
        try:
            ops = [api_op(url, key) for url in route.urls]
            asyncio.run(run_phase(Phase(route.name, "api"), api.url, ops, pids={}, **_load(args)))
        finally:
            api.stop()
        summary = profiling.summarize(target)
        target.with_suffix(".txt").write_text(summary + "\n")
        print(f"\nprofile of the API answering {route.what} (under py-spy):\n{summary}")


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE, e.g. answer_cache_mb=0")
    return name, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30, help="days of hour and day roll-ups")
    parser.add_argument("--minute-days", type=int, default=7, help="days of minute roll-ups (one district)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per route and side")
    parser.add_argument("--latest-requests", type=int, default=10_000, help="timed requests of /v1/latest per side")
    parser.add_argument("--warmup", type=int, default=64, help="untimed requests before each phase")
    parser.add_argument("--phase-s", type=float, default=60.0, help="no new request after this long in a phase")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of all phases; the best of each is reported")
    parser.add_argument("--indicators", nargs="+", default=["pm25_hours_above_who"], help="30-day indicators to ask")
    parser.add_argument("--quick", action="store_true", help="200 requests per route and side (latest: 2,000)")
    parser.add_argument(
        "--api-setting",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the measured API (repeatable): answer_cache_mb=0 history_fresh_s=0 measure it uncached",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the data set even when it is cached")
    parser.add_argument(
        "--profile", type=Path, default=None, help="also run each route under py-spy, write profiles here"
    )
    parser.add_argument(
        "--api-tree",
        type=Path,
        default=None,
        help="run the API from this checkout (git worktree add DIR REV, or git archive REV): PYTHONPATH",
    )
    args = parser.parse_args()
    if args.api_tree is not None:
        args.api_tree = args.api_tree.resolve()
    if args.quick:
        args.requests, args.latest_requests = min(args.requests, 200), min(args.latest_requests, 2_000)
    spec = DataSpec(devices=args.devices, days=args.days, minute_days=args.minute_days)
    with serving(spec, rebuild=args.rebuild) as data, tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        workdir = Path(tmp)
        state_file = workdir / "state.sqlite"
        key = create_planner_key(api_env(data.city_file, data.influx.url, data.influx.database, state_file))
        rs = routes(data, args.indicators, requests=args.requests, latest_requests=args.latest_requests)
        print(
            f"data set {data.directory.name}: anchor {iso(data.layout.anchor_ms)}, "
            f"{'built in ' + format(data.built_s, '.0f') + ' s' if data.built_s else 'from the cache'}"
        )
        recorded, failed = asyncio.run(record(data, state_file, key, rs, workdir, args.api_tree))
        env = api_env(data.city_file, data.influx.url, data.influx.database, state_file, tree=args.api_tree)
        env |= {f"SMARTCITY_API_{name.upper()}": value for name, value in args.api_setting}
        with ApiProcess(workdir / "api", env, key, rs[0].urls[0]) as api:
            phases = asyncio.run(measure(data, api, data.influxd_pid, key, rs, recorded, failed, args))
        report(rs, phases, args, data)
        if args.profile:
            profile(data, state_file, key, rs, args, workdir)
    return 1 if any(phase.error for phase in phases) else 0


if __name__ == "__main__":
    raise SystemExit(main())
