"""``python -m bench`` (``make bench``): every benchmark in turn, each printing its ratio against its baseline.

Each one is also runnable alone (``python -m bench.gateway_bench --help``); figures and commands are recorded in
docs/BENCHMARKS.md and the README.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench.city_bench",
    "bench.contract_bench",
    "bench.gateway_bench",
    "bench.simulator_bench",
    "bench.api_bench",
    "bench.rollup_bench",
    "bench.opendata_bench",
)


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"\n=== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
