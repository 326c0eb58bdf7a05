"""The data-quality benchmark's data set: a generated city with fault episodes at realistic rates over one simulated
week, sent by the simulator's accelerated back-fill through a real Mosquitto and a real ``smartcity gateway`` into
a real influxd, plus the ground-truth log of every fault injected. Built once per seed and kept under
``.cache/quality-bench/<seed>/``.

API (``bench.quality_bench`` scores the quality worker's flags against it)::

    from bench.quality_data import build, serving

    data = build(seed)                       # -> QualityDataSet; builds it the first time (a few minutes)
    data.influx_dir                          # influxd work dir (meta/, data/, wal/) holding database data.database
    data.city_file, data.truth_file          # the city (JSON) and the truth log (JSON lines, smartcity.quality_truth)
    data.start_ms, data.end_ms               # the simulated week [start, end), epoch ms (UTC)
    records = data.truth()                   # list[TruthRecord], begin/end lines merged
    with serving(data, workdir=tmp) as influx:   # an influxd on a copy of the store (writes never reach the cache)
        ...                                  # influx: smartcity.settings.InfluxSettings

What is in it, for ``build(seed)`` with the default :class:`DataSpec`:

- the city: ``generate_city(devices=600, seed=seed, districts=6)`` (for seed 1: 399 devices in the old town, 26-74 in
  each other district; street lights, parking bays and waste bins in every district, the 147 indoor-climate and 32
  occupancy sensors in the old town and windmill hill only, a handful of each other type);
- readings: every device at its own report interval (narrowband ones at their duty-cycle floor at least) from
  ``end_ms - 7 days`` to ``end_ms``, ``end_ms`` = :data:`END_MS` (fixed, so a seed always gives the same
  readings and faults, whenever it is built), shaped by ``--faults realistic`` (:data:`devices.episodes.PRESETS`;
  docs/SIMULATOR.md "Fault episodes and ground truth"), as the gateway stored them: measurements per metric and
  ``device_health`` (sequence gaps from the offline periods; its clock offset compares device time with the
  gateway's receive time, so in a back-fill it shows the history's age, and a skewed clock shows instead as the
  device's report times moving off their grid by ``offset_ms``), no dead letters;
- the truth log: one record per fault (offline, stuck, spike, drift, skew, battery), times in simulated time.

The gateway runs with ``limits.max_past_s`` raised to reach back to the week (``END_MS`` lies in the past) and its
other settings at their defaults. The directory's ``manifest.json`` (written last: a build that did not finish leaves no
marker and is built again) holds the parameters, the counts and a key that hashes them and the modules that shape
the data; a different key rebuilds. Command line: ``python -m bench.quality_data --seed 1 [--rebuild]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvloop

from devices.episodes import EpisodePlan
from devices.run_options import RunOptions
from devices.workers import raise_fd_limit
from smartcity.city.generate import generate_city
from smartcity.city.model import City
from smartcity.influx.client import InfluxClient, quote_identifier
from smartcity.localservices import InfluxdProcess, MosquittoProcess
from smartcity.quality_truth import TruthRecord, read_truth
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.faulty_city import FaultyRun, run_faulty_city

CACHE_ROOT = Path(__file__).resolve().parents[1] / ".cache" / "quality-bench"
DATABASE = "city"
DAY_MS = 86_400_000
END_MS = 1_744_588_800_000
"""2025-04-14T00:00:00Z, a Monday: the simulated week ends here."""
DEFAULT_DEVICES = 600
SHAPING_MODULES = (
    "bench.quality_data",
    "tests.support.faulty_city",
    "devices.episodes",
    "devices.device_episodes",
    "devices.device_core",
    "devices.signals",
    "devices.drivers",
    "devices.narrowband",
    "devices.fleet",
    "smartcity.quality_truth",
    "smartcity.city.generate",
    "smartcity.contract.metrics",
    "smartcity.influx.lineprotocol",
)


@dataclass(frozen=True, slots=True)
class DataSpec:
    seed: int
    devices: int = DEFAULT_DEVICES
    districts: int = 6
    days: int = 7
    faults: str = "realistic"
    backfill_rate: float = 4_000.0
    """Readings per second the simulator is asked for (the back-fill's simulated speed follows from it). The one
    network-server session carries the narrowband devices' 60 % of them; its outbox overflowed at 12,000/s, and at
    6,000/s on a busy machine (a build that drops a reading fails rather than score a thinner week)."""


@dataclass(frozen=True, slots=True)
class QualityDataSet:
    """A built data set (see the module docstring)."""

    spec: DataSpec
    directory: Path
    influx_dir: Path
    database: str
    city_file: Path
    truth_file: Path
    start_ms: int
    end_ms: int
    manifest: dict[str, Any]
    """Parameters, counts (readings, faults per kind, points per measurement) and ``built_s``."""

    def truth(self) -> list[TruthRecord]:
        return read_truth(self.truth_file)


def cache_key(spec: DataSpec) -> str:
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for module in SHAPING_MODULES:
        digest.update(Path(str(importlib.import_module(module).__file__)).read_bytes())
    return digest.hexdigest()[:16]


def build(
    seed: int, *, spec: DataSpec | None = None, cache_root: Path = CACHE_ROOT, rebuild: bool = False
) -> QualityDataSet:
    """The data set of ``seed`` (or of ``spec``): from the cache, or built and cached first."""
    spec = spec or DataSpec(seed=seed)
    if spec.seed != seed:
        raise ValueError(f"spec.seed {spec.seed} differs from seed {seed}")
    directory = cache_root / str(seed)
    manifest_path = directory / "manifest.json"
    key = cache_key(spec)
    manifest: dict[str, Any] | None = None
    if manifest_path.exists() and not rebuild:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("key") != key:
            print(f"quality data set {seed}: built by other code or parameters, building it again", flush=True)
            manifest = None
    if manifest is None:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        manifest = _build(spec, directory) | {"key": key}
        manifest_path.write_text(json.dumps(manifest, indent=1))
    return QualityDataSet(
        spec=spec,
        directory=directory,
        influx_dir=directory / "influxd",
        database=DATABASE,
        city_file=directory / "city.json",
        truth_file=directory / "truth.jsonl",
        start_ms=manifest["start_ms"],
        end_ms=manifest["end_ms"],
        manifest=manifest,
    )


@contextmanager
def serving(data: QualityDataSet, *, workdir: Path | None = None) -> Iterator[InfluxSettings]:
    """An influxd on a copy of the data set's store in ``workdir`` (a temporary directory when None), stopped on
    exit; yields the settings that reach its database."""
    with tempfile.TemporaryDirectory(prefix="quality-bench-") as scratch:
        target = (workdir or Path(scratch)) / "influxd"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(data.influx_dir, target, ignore=shutil.ignore_patterns("*.log", "*.sock", "influxd.conf"))
        with InfluxdProcess(target, ready_timeout_s=300) as influxd:
            yield InfluxSettings(url=influxd.url, database=data.database, timeout_s=120.0)


def _build(spec: DataSpec, directory: Path) -> dict[str, Any]:
    started = time.perf_counter()
    city = generate_city(devices=spec.devices, seed=spec.seed, districts=spec.districts)
    truth_file = directory / "truth.jsonl"
    options = RunOptions(
        seed=spec.seed,
        speed=0.001,  # once the week is back-filled, simulated time all but stops until the run ends
        start_ms=END_MS,
        backfill_s=spec.days * 86_400,
        backfill_rate=spec.backfill_rate,
        episodes=EpisodePlan.parse(spec.faults, []),
        truth_path=truth_file,
    )
    print(f"quality data set {spec.seed}: {spec.devices} devices, {spec.days} simulated days ...", flush=True)
    raise_fd_limit()
    with (
        MosquittoProcess(directory / "mosquitto") as broker,
        InfluxdProcess(directory / "influxd", ready_timeout_s=300) as influxd,
    ):
        influx = InfluxSettings(url=influxd.url, database=DATABASE, timeout_s=120.0)
        mqtt = MqttSettings(host="::1", port=broker.port, topic_root="city")
        run, points = uvloop.run(_run(city, options, mqtt, influx, directory / "run"))  # as the simulator runs
    shutil.move(directory / "run" / "city.json", directory / "city.json")
    shutil.rmtree(directory / "run", ignore_errors=True)
    shutil.rmtree(directory / "mosquitto", ignore_errors=True)
    records = read_truth(truth_file)
    built_s = time.perf_counter() - started
    counters = run.summary.counters
    print(
        f"quality data set {spec.seed}: {counters.readings:,} readings, {len(records):,} faults, "
        f"built in {built_s:.0f} s",
        flush=True,
    )
    return {
        "spec": asdict(spec),
        "start_ms": END_MS - spec.days * DAY_MS,
        "end_ms": END_MS,
        "devices": len(city.devices),
        "readings": counters.readings,
        "accepted": run.accepted,
        "faults": dict(sorted(Counter(record.kind.value for record in records).items())),
        "points": points,
        "built_s": round(built_s, 1),
    }


async def _run(
    city: City, options: RunOptions, mqtt: MqttSettings, influx: InfluxSettings, workdir: Path
) -> tuple[FaultyRun, dict[str, int]]:
    async with InfluxClient(influx) as client:
        await client.create_database()
    run = await run_faulty_city(city, options, mqtt=mqtt, influx=influx, workdir=workdir, timeout_s=1_800.0)
    if run.rejected:
        raise RuntimeError(f"the gateway dead-lettered readings of the data set: {run.rejected}")
    return run, await _points(influx)


async def _points(influx: InfluxSettings) -> dict[str, int]:
    """Points per measurement (the count of each measurement's first field key)."""
    counts: dict[str, int] = {}
    async with InfluxClient(influx) as client:
        for keys in await client.query("SHOW FIELD KEYS"):
            field = str(keys.values[0][0])
            q = f"SELECT count({quote_identifier(field)}) FROM {quote_identifier(keys.name)}"
            found = await client.query(q)
            counts[keys.name] = int(found[0].values[0][1] or 0) if found else 0
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description="build (or show) the data-quality benchmark's data set")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--devices", type=int, default=DEFAULT_DEVICES)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    spec = dataclasses.replace(DataSpec(seed=args.seed), devices=args.devices)
    data = build(args.seed, spec=spec, rebuild=args.rebuild)
    print(json.dumps({"directory": str(data.directory), **data.manifest}, indent=1))


if __name__ == "__main__":
    main()
