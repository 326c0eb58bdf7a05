"""The roll-up benchmark's data set: a generated city's raw readings over whole UTC hours, in a private influxd's
store that is built once and kept under ``.cache/rollup-bench/`` for the next run.

Each device reports at its own ``report_interval_s`` from the city model (60 s for most broadband devices, 300 s
to 3,600 s for narrowband ones), from a random phase, every metric of its type and the three vitals in every
reading; meter registers count up. The readings become points through the gateway's
:class:`~smartcity.influx.lineprotocol.LineEncoder` and go straight to ``/write`` in 5,000-line bodies, two
requests in flight while the next hours are generated.

The cache is the store itself (influxd's ``meta/``, ``data/`` and ``wal/``), named by a hash of the parameters,
this module and the modules that shape a byte of it: a run copies it into its own work dir, so every timed run
starts from the same store without the roll-ups of the one before.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from smartcity.city.directory import DeviceDirectory
from smartcity.city.generate import generate_city
from smartcity.city.model import City, Device
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricKind, Temporality
from smartcity.contract.reading import Reading, Value
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.localservices import InfluxdProcess
from smartcity.localservices.influxd import INFLUXD_BINARY

HOUR_MS = 3_600_000
END_MS = 1_744_848_000_000
"""2025-04-17T00:00:00Z, a Thursday: the data set ends here. 24 hours before it lie in one 7-day shard group
(they start on Mondays), as a current day of a production store's default policy would."""
DATABASE = "rollup_bench"
CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "rollup-bench"
CHUNK_LINES = 5_000
WRITES_IN_FLIGHT = 2
SHAPING_MODULES = (
    "bench.rollup_data",
    "smartcity.city.generate",
    "smartcity.city.district_layout",
    "smartcity.city.facility_plan",
    "smartcity.city.device_plan",
    "smartcity.city.catalogue",
    "smartcity.city.model",
    "smartcity.contract.metrics",
    "smartcity.influx.lineprotocol",
)
_STORE_DIRS = ("meta", "data", "wal")
_SETTLE_SOON: dict[tuple[str, str], str | bool | int] = {
    ("data", "cache-snapshot-write-cold-duration"): "2s",
    ("data", "compact-full-write-cold-duration"): "2s",
}
"""The building influxd snapshots and fully compacts a shard 2 s after its last write (default: 10 min, 4 h)."""


@dataclass(frozen=True, slots=True)
class DataSpec:
    devices: int
    hours: int
    seed: int = 7

    @property
    def start_ms(self) -> int:
        return END_MS - self.hours * HOUR_MS


@dataclass(frozen=True, slots=True)
class DataSet:
    spec: DataSpec
    city: City
    store: Path
    """The cached store (copy it with :func:`copy_store` before starting an influxd on it)."""
    points: int
    readings: int
    built_s: float
    """Seconds this run spent building it (0.0: from the cache)."""


def cache_key(spec: DataSpec) -> str:
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for module in SHAPING_MODULES:
        source = importlib.import_module(module).__file__
        digest.update(Path(str(source)).read_bytes())
    version = subprocess.run([str(INFLUXD_BINARY), "version"], capture_output=True, text=True, check=False).stdout
    digest.update(version.encode())
    return digest.hexdigest()[:16]


def _values(device: Device, rng: random.Random, registers: dict[str, float]) -> dict[str, Value]:
    values: dict[str, Value] = {}
    for name in DEVICE_METRICS[device.type]:
        spec = METRICS[name]
        if spec.temporality is Temporality.REGISTER:
            registers[name] = round(registers.get(name, rng.uniform(1_000, 50_000)) + rng.uniform(0, 0.8), 3)
            values[name] = registers[name]
        elif spec.kind is MetricKind.FLOAT:
            low, high = spec.minimum or 0.0, spec.maximum or 100.0
            values[name] = round(low + (high - low) * rng.random() * 0.1, 2)
        elif spec.kind is MetricKind.INT:
            low, high = int(spec.minimum or 0), int(spec.maximum or 100)
            values[name] = rng.randint(low, min(high, low + 100))
        elif spec.kind is MetricKind.BOOL:
            values[name] = rng.random() < 0.5
        else:
            values[name] = "Welcome"
    if "report_interval" in values:
        values["report_interval"] = device.report_interval_s
    return values


def readings(city: City, spec: DataSpec) -> Iterator[list[Reading]]:
    """The readings of each hour of the data set, hour after hour (device by device within an hour)."""
    rng = random.Random(spec.seed)
    phases = {device.id: rng.randrange(device.report_interval_s * 1000) for device in city.devices}
    registers: dict[str, dict[str, float]] = {device.id: {} for device in city.devices}
    seqs = dict.fromkeys(phases, 0)
    for hour in range(spec.start_ms, END_MS, HOUR_MS):
        batch: list[Reading] = []
        for device in city.devices:
            step = device.report_interval_s * 1000
            first = hour + (phases[device.id] - hour) % step
            for ts in range(first, hour + HOUR_MS, step):
                batch.append(Reading(device.id, seqs[device.id], ts, _values(device, rng, registers[device.id])))
                seqs[device.id] += 1
        yield batch


def build(spec: DataSpec, city: City, url: str) -> tuple[int, int]:
    """Write the data set into ``url``'s :data:`DATABASE`; returns (readings, points)."""
    encoder = LineEncoder(DeviceDirectory.from_city(city))
    counted = [0, 0]
    with httpx.Client(base_url=url, trust_env=False, timeout=120.0) as http:
        http.post("/query", data={"q": f'CREATE DATABASE "{DATABASE}"'}).raise_for_status()

        def post(body: bytes) -> None:
            answer = http.post("/write", params={"db": DATABASE, "precision": "ms"}, content=body)
            if answer.status_code != 204:
                raise RuntimeError(f"influxd refused the data set: {answer.status_code} {answer.text[:300]}")

        with ThreadPoolExecutor(WRITES_IN_FLIGHT) as pool:
            pending: list[Future[None]] = []
            for batch in readings(city, spec):
                lines = [line for reading in batch for line in encoder.encode(reading)]
                counted[0] += len(batch)
                counted[1] += len(lines)
                for start in range(0, len(lines), CHUNK_LINES):
                    while len(pending) >= 2 * WRITES_IN_FLIGHT:
                        pending.pop(0).result()
                    pending.append(pool.submit(post, "\n".join(lines[start : start + CHUNK_LINES]).encode()))
            for future in pending:
                future.result()
    return counted[0], counted[1]


def data_set(spec: DataSpec, workdir: Path, *, cache_dir: Path = CACHE_DIR, use_cache: bool = True) -> DataSet:
    """The data set from the cache, or built in a private influxd under ``workdir`` (and cached)."""
    city = generate_city(devices=spec.devices, seed=spec.seed)
    store = cache_dir / cache_key(spec)
    manifest = store / "manifest.json"
    if use_cache and manifest.exists():
        found = json.loads(manifest.read_text())
        return DataSet(spec, city, store, found["points"], found["readings"], 0.0)
    started = time.perf_counter()
    build_dir = workdir / "build"
    with InfluxdProcess(build_dir, config_overrides=_SETTLE_SOON) as influxd:
        count, points = build(spec, city, influxd.url)
        _settle(build_dir / "data")
    built_s = time.perf_counter() - started
    if not use_cache:
        return DataSet(spec, city, build_dir, points, count, built_s)
    shutil.rmtree(cache_dir, ignore_errors=True)  # one data set at a time: a 10,000-device day is hundreds of MB
    partial = store.with_name(store.name + ".partial")
    for name in _STORE_DIRS:
        shutil.copytree(build_dir / name, partial / name)
    (partial / "manifest.json").write_text(
        json.dumps({"spec": asdict(spec), "points": points, "readings": count, "built_s": round(built_s, 1)})
    )
    partial.rename(store)
    return DataSet(spec, city, store, points, count, built_s)


def _settle(data: Path, quiet_s: float = 10.0, limit_s: float = 300.0) -> None:
    """Wait until influxd has snapshotted its cache and fully compacted the shards (their TSM files unchanged for
    ``quiet_s``), as a day-old shard of a production store is: every run then starts from the same files, and no
    run pays for compacting the data set."""
    deadline, last, since = time.monotonic() + limit_s, None, time.monotonic()
    while time.monotonic() < deadline:
        files = sorted((path.name, path.stat().st_size) for path in data.rglob("*.tsm*"))
        if files != last:
            last, since = files, time.monotonic()
        elif time.monotonic() - since >= quiet_s and not any(name.endswith(".tmp") for name, _ in files):
            return
        time.sleep(0.5)


def copy_store(store: Path, workdir: Path) -> Path:
    """A private copy of the store in ``workdir`` (start an :class:`InfluxdProcess` there)."""
    for name in _STORE_DIRS:
        shutil.copytree(store / name, workdir / name)
    return workdir
