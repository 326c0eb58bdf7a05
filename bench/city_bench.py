"""City model at scale: generate, write and load a 100,000-device city.

Run: ``.venv/bin/python -m bench.city_bench [--devices 100000] [--repeat 3]``

Measured in the same run, on the same city and file:

- generate = ``generate_city`` + ``dump_city`` + write (what ``smartcity city generate`` does), against the
  baseline ``json.dumps`` of the same city as plain dicts (the bare cost of producing that much JSON);
- load = ``load_city`` (parse, full model validation, cross-reference checks), against the baseline ``json.loads``
  of the same bytes (no validation at all);
- credentials = the password file in both hash schemes (``$7$`` PBKDF2 and ``$6$`` SHA-512).

Each figure is the best of ``--repeat`` runs, as wall-clock time and as CPU time of this process. The machine is
shared: the best run is the least disturbed one, and CPU time is what the step costs whatever else is running.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartcity.city.credentials import HashScheme, password_file
from smartcity.city.generate import generate_city
from smartcity.city.load import dump_city, load_city

TARGET_S = 5.0


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float


def _best(repeat: int, action: Callable[[], Any]) -> tuple[Timing, Any]:
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = action()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return Timing(wall, cpu), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--credentials", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="city-bench-") as tmp:
        path = Path(tmp) / "city.json"

        def generate() -> Any:
            city = generate_city(devices=args.devices, seed=args.seed)
            path.write_bytes(dump_city(city))
            return city

        generate_s, city = _best(args.repeat, generate)
        plain = city.model_dump(mode="json")
        dumps_s, _ = _best(args.repeat, lambda: json.dumps(plain))
        data = path.read_bytes()
        load_s, loaded = _best(args.repeat, lambda: load_city(path))
        loads_s, _ = _best(args.repeat, lambda: json.loads(data))
        assert loaded == city, "the loaded city differs from the generated one"

        rows = [
            ("generate + write", generate_s, "json.dumps of the same city", dumps_s),
            ("load + validate", load_s, "json.loads of the same file", loads_s),
        ]
        if args.credentials:
            sha_s, _ = _best(1, lambda: password_file(city, b"bench-secret-0123456789", HashScheme.SHA512))
            pbkdf2_s, _ = _best(1, lambda: password_file(city, b"bench-secret-0123456789", HashScheme.PBKDF2))
            rows.append(("password file ($7$ PBKDF2)", pbkdf2_s, "$6$ SHA-512", sha_s))

    print(f"city: {args.devices:,} devices, {len(city.facilities):,} facilities, {len(city.districts)} districts, "
          f"file {len(data) / 1e6:.1f} MB; best of {args.repeat}")  # fmt: skip
    print(f"{'step':<27}{'wall':>8}{'cpu':>8}  {'baseline':<28}{'wall':>8}{'cpu':>8}{'ratio':>7}  target (wall)")
    for name, ours, baseline_name, baseline in rows:
        target = "" if name.startswith("password") else ("met" if ours.wall_s < TARGET_S else "MISSED")
        print(
            f"{name:<27}{ours.wall_s:>7.2f}s{ours.cpu_s:>7.2f}s  {baseline_name:<28}{baseline.wall_s:>7.2f}s"
            f"{baseline.cpu_s:>7.2f}s{ours.cpu_s / baseline.cpu_s:>6.1f}x  {target}"
        )
    print(f"ratio = CPU time of our step / CPU time of the baseline; target: under {TARGET_S:.0f} s each")


if __name__ == "__main__":
    main()
