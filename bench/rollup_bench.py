"""Roll-up worker benchmark: one hour of a city and the catch-up after a day down, against the earlier worker.

    .venv/bin/python -m bench.rollup_bench [--devices 10000] [--hours 24] [--base-rev REV | --base-tree DIR]

The data set (:mod:`bench.rollup_data`): a generated city of ``--devices`` devices, each reporting at its own
report interval for ``--hours`` whole UTC hours, written through the gateway's encoder; built once and cached
under ``.cache/rollup-bench/``. Each implementation then gets a fresh copy of that store in a private influxd and
the same steps (:mod:`bench.rollup_timing`, in a process of its own):

- catch-up: progress recorded at the data set's first hour and the clock ``--catchup-hours`` hours (default: all
  of them, so a day down) and the settle time later; the worker's cycles until no closed hour is left (the hours,
  and the local day they close), in hours rolled up per minute;
- one hour: ``compute_hour`` of the data set's last hour (23 hours of history before it), best of ``--repeat``;
- the statements of that hour sent straight to influxd, one after another, the answers read and not decoded:
  the worker's time over that is what the worker adds to what the store needs just to answer it.

``--base-rev REV`` (or ``--base-tree DIR``, a checkout) adds the same steps for an earlier commit's worker,
imported from a ``git archive`` of it through ``PYTHONPATH``; the ratio is its time over this checkout's, in the
same run, on the same data. Its catch-up covers ``--base-catchup-hours`` hours only and its hour is computed
``--base-repeat`` times (an earlier worker that needs half a minute an hour would take a quarter of an hour for a
day). Both must write the same roll-ups: the digests
of InfluxDB's answers for the hour's 1m and 1h points are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.rollup_data import DATABASE, DataSpec, copy_store, data_set
from smartcity.localservices import InfluxdProcess

REPO = Path(__file__).resolve().parents[1]
TIMING = Path(__file__).with_name("rollup_timing.py")


def _time(label: str, store: Path, workdir: Path, job: dict[str, Any], base_tree: Path | None) -> dict[str, Any]:
    """One implementation's steps on a fresh copy of the store."""
    run_dir = copy_store(store, workdir / label)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if base_tree is not None:
        env["PYTHONPATH"] = str(base_tree)
    with InfluxdProcess(run_dir) as influxd:
        arguments = json.dumps(job | {"url": influxd.url, "pid": influxd.pid})
        done = subprocess.run(
            [sys.executable, str(TIMING), arguments], env=env, capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"{label}: the timing run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _base_tree(args: argparse.Namespace, workdir: Path) -> Path | None:
    if args.base_tree is not None:
        return Path(args.base_tree).resolve()
    if args.base_rev is None:
        return None
    tree = workdir / "base-tree"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", args.base_rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=24, help="hours of raw data (the catch-up span by default)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2, help="one-hour computations per implementation (best)")
    parser.add_argument("--catchup-hours", type=int, default=None, help="hours down (default: --hours; 0 skips)")
    parser.add_argument("--base-rev", default=None, help="an earlier commit whose worker to compare with")
    parser.add_argument("--base-tree", type=Path, default=None, help="or a checkout of it")
    parser.add_argument("--base-catchup-hours", type=int, default=2, help="the earlier worker's catch-up span")
    parser.add_argument("--base-repeat", type=int, default=1, help="the earlier worker's one-hour computations")
    parser.add_argument("--no-cache", action="store_true", help="build the data set afresh and do not keep it")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    spec = DataSpec(args.devices, args.hours, args.seed)
    catchup_hours = args.hours if args.catchup_hours is None else min(args.catchup_hours, args.hours)

    with tempfile.TemporaryDirectory(prefix="rollup-bench-") as tmp:
        workdir = Path(tmp)
        data = data_set(spec, workdir, use_cache=not args.no_cache)
        origin = f"built in {data.built_s:.1f} s" if data.built_s else "from the cache"
        print(
            f"data: {args.devices:,} devices, {args.hours} h ({len(data.city.districts)} districts), "
            f"{data.readings:,} readings = {data.points:,} points; {origin}: {data.store}",
            flush=True,
        )
        job: dict[str, Any] = {
            "database": DATABASE,
            "timezone": data.city.timezone,
            "start_ms": spec.start_ms,
            "end_ms": spec.start_ms + args.hours * 3_600_000,
            "catchup_hours": catchup_hours,
            "repeat": args.repeat,
        }
        results = {"this checkout": _time("current", data.store, workdir, job, None)}
        print(_row("this checkout", results["this checkout"]), flush=True)
        base_tree = _base_tree(args, workdir)
        if base_tree is not None:
            label = f"earlier ({args.base_rev or base_tree})"
            base_job = job | {"catchup_hours": min(args.base_catchup_hours, catchup_hours), "repeat": args.base_repeat}
            results[label] = _time("base", data.store, workdir, base_job, base_tree)
            print(_row(label, results[label]), flush=True)
    _report(results)
    if args.json:
        args.json.write_text(json.dumps({"spec": vars(args), **results}, indent=2, default=str))
    return 0


def _best(result: dict[str, Any]) -> dict[str, Any]:
    return min(result["hour"], key=lambda run: run["seconds"])


def _rate(result: dict[str, Any]) -> float:
    catchup = result["catchup"]
    return float(catchup["hours"] / (catchup["seconds"] / 60)) if catchup and catchup["seconds"] else 0.0


def _row(label: str, result: dict[str, Any]) -> str:
    best, queries = _best(result), result["queries"]["seconds"]
    text = (
        f"{label}: one hour {best['seconds']:.2f} s (best of {len(result['hour'])}: "
        + ", ".join(f"{run['seconds']:.2f}" for run in result["hour"])
        + f"; worker CPU {best['cpu_s']:.2f} s, influxd CPU {best['influxd_cpu_s']:.2f} s; "
        f"{best['minute_points']:,} minute + {best['hour_points']:,} hour points); "
        f"its {result['queries']['statements']} statements alone {queries:.2f} s"
    )
    if result["catchup"]:
        catchup = result["catchup"]
        hours = sorted(catchup["hour_seconds"]) or [0.0]
        text += (
            f"; catch-up {catchup['hours']} h + {catchup['days']:.0f} day in {catchup['seconds']:.1f} s "
            f"= {_rate(result):.1f} hours/minute (an hour {hours[0]:.1f} / {statistics.median(hours):.1f} / "
            f"{hours[-1]:.1f} s min / median / max; worker CPU {catchup['cpu_s']:.0f} s, "
            f"influxd CPU {catchup['influxd_cpu_s']:.0f} s)"
        )
    return text


def _report(results: dict[str, dict[str, Any]]) -> None:
    print("\n| worker | one hour, s | worker CPU s | influxd CPU s | its queries alone, s | hour / queries "
          "| catch-up | catch-up, hours/minute |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for label, result in results.items():
        best, queries = _best(result), result["queries"]["seconds"]
        catchup = result["catchup"]
        span = "-"
        if catchup:
            median = statistics.median(catchup["hour_seconds"] or [0.0])
            span = f"{catchup['hours']} h + {catchup['days']:.0f} d in {catchup['seconds']:.0f} s"
            span += f" (median hour {median:.1f} s)"
        print(
            f"| {label} | {best['seconds']:.2f} | {best['cpu_s']:.2f} | {best['influxd_cpu_s']:.2f} | {queries:.2f} "
            f"| {best['seconds'] / queries:.2f}x | {span} | {_rate(result):.1f} |"
        )
    if len(results) < 2:
        return
    (_, ours), (base_label, base) = list(results.items())[:2]
    print(f"\none hour: {_best(base)['seconds'] / _best(ours)['seconds']:.1f}x faster than the {base_label} worker")
    if _rate(base):
        print(f"catch-up rate: {_rate(ours) / _rate(base):.1f}x the {base_label} worker's")
    same = ours["digest"] == base["digest"]
    print(
        f"roll-ups of the hour (1m and 1h): {'identical' if same else 'DIFFERENT'} ({ours['digest']}, {base['digest']})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
