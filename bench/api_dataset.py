"""The API benchmark's data set: a generated city with 30 days of hour and day roll-ups, 7 days of minute roll-ups
for one district, the last two hours of raw points and the roll-up worker's progress, in a private influxd's store
that is built once and kept under ``.cache/api-bench/<key>/`` for the next run.

What is written (``tests.support.fast_rollups.Layout`` has the spans; ``E`` is the UTC hour the build started in):

- ``rp_1h`` for every device, every hour from the local midnight before ``E - days`` to ``E - 1 h``, and ``rp_1d``
  for the whole local days in between. Behind them: one reading per device and hour, except where a device reads
  at its report interval (below). No route reads the vitals, so only the raw readings carry them.
- ``rp_1m``: the minute district (the one with the fewest devices) for the last ``minute_days`` days, every device
  for the hour rolled up from raw. Its devices read at their report interval over those days.
- raw (default policy): every device at its report interval from ``E - raw_hours`` to ``E``, vitals included,
  through the gateway's :class:`~smartcity.influx.lineprotocol.LineEncoder`; each meter's reading before that too
  (the worker pairs a window's first register reading with it).
- ``rollup_progress``: 1m and 1h complete up to ``E - 1 h`` (the last hour is raw only, as in a live store until
  the worker computes it), 1d up to the last whole local day, the late-mark cursor at ``E``.

Roll-ups come from :mod:`tests.support.fast_rollups` (the worker's arithmetic); before the marker
(``manifest.json``) is written, :func:`tests.support.fast_rollups_check.check_against_worker` has the real worker
compute a sample from raw points and compared. The key hashes the parameters, these modules and every module that
shapes a byte of the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.api_writer import BulkWriter, wait_idle
from services.rollup.tiers import ensure_retention
from smartcity.city.directory import DeviceDirectory
from smartcity.city.generate import generate_city
from smartcity.city.load import dump_city
from smartcity.city.model import City
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, Temporality
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.localservices import InfluxdProcess
from smartcity.localservices.influxd import INFLUXD_BINARY
from smartcity.rollups import DAY, HOUR, LATE_CURSOR, MINUTE, RollupPolicy, progress_line
from smartcity.settings import InfluxSettings
from tests.support.city_signals import HOUR_MS, CitySignals
from tests.support.fast_rollups import Layout, between, city_tags, day_of_hour, device_data, tier_lines
from tests.support.fast_rollups_check import check_against_worker, sample_devices

DATABASE = "city"
CACHE_ROOT = Path(__file__).resolve().parents[1] / ".cache" / "api-bench"
REGISTER = Temporality.REGISTER
MAX_AGE_DAYS = 25
"""An older data set is rebuilt: the API's latest window reaches 31 days back at most, rp_1m keeps 93."""
SHAPING_MODULES = (
    "bench.api_dataset",
    "tests.support.fast_rollups",
    "tests.support.city_signals",
    "bench.api_writer",
    "services.rollup.aggregate",
    "smartcity.rollups",
    "smartcity.city.generate",
    "smartcity.city.district_layout",
    "smartcity.city.facility_plan",
    "smartcity.city.device_plan",
    "smartcity.city.catalogue",
    "smartcity.city.model",
    "smartcity.contract.metrics",
    "smartcity.influx.lineprotocol",
    "smartcity.influx.schema",
)
INFLUXD_SETTINGS = {
    # after the build: the cache goes to TSM files within seconds, and each shard is fully compacted a minute
    # later, so a benchmark run never shares the machine with a compaction
    ("data", "cache-snapshot-write-cold-duration"): "10s",
    ("data", "compact-full-write-cold-duration"): "1m",
}


@dataclass(frozen=True, slots=True)
class DataSpec:
    devices: int = 10_000
    seed: int = 7
    days: int = 30
    minute_days: int = 7
    raw_hours: int = 2


@dataclass(frozen=True, slots=True)
class DataSet:
    spec: DataSpec
    city: City
    city_file: Path
    layout: Layout
    influx: InfluxSettings
    points: dict[str, int]
    """Points written per tier (``raw``, ``rp_1m``, ``rp_1h``, ``rp_1d``)."""
    built_s: float
    """Seconds this run spent building it (0.0: from the cache)."""
    directory: Path
    influxd_pid: int


def cache_key(spec: DataSpec) -> str:
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for module in SHAPING_MODULES:
        digest.update(Path(str(importlib.import_module(module).__file__)).read_bytes())
    version = subprocess.run([str(INFLUXD_BINARY), "version"], capture_output=True, text=True, check=False).stdout
    digest.update(version.encode())
    return digest.hexdigest()[:16]


def minute_district(city: City) -> str:
    """The district with the fewest devices (ties by id)."""
    counts = {district.id: 0 for district in city.districts}
    for device in city.devices:
        counts[device.district_id] += 1
    return min(counts, key=lambda ident: (counts[ident], ident))


@contextmanager
def serving(spec: DataSpec, *, cache_root: Path = CACHE_ROOT, rebuild: bool = False) -> Iterator[DataSet]:
    """The data set in a running influxd: from the cache, or built (and cached) first."""
    directory = cache_root / cache_key(spec)
    manifest_path = directory / "manifest.json"
    manifest: dict[str, Any] | None = None
    if manifest_path.exists() and not rebuild:
        manifest = json.loads(manifest_path.read_text())
        age_days = (time.time() * 1000 - manifest["anchor_ms"]) / 86_400_000
        if age_days > MAX_AGE_DAYS:
            print(f"data set {directory.name} is {age_days:.0f} days old: building it again")
            manifest = None
    if manifest is None:  # one data set at a time (about 400 MB); a build that did not finish leaves no marker
        for other in cache_root.glob("*"):
            shutil.rmtree(other, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    city = generate_city(devices=spec.devices, seed=spec.seed)
    city_file = directory / "city.json"
    city_file.write_bytes(dump_city(city))
    started = time.perf_counter()
    with InfluxdProcess(directory / "influxd", config_overrides=INFLUXD_SETTINGS, ready_timeout_s=300) as influxd:
        influx = InfluxSettings(url=influxd.url, database=DATABASE, timeout_s=120.0)
        built_s = 0.0
        if manifest is None:
            anchor = int(time.time() * 1000) // HOUR_MS * HOUR_MS
            manifest = build(influx, city, spec, anchor)
            built_s = time.perf_counter() - started
            print("waiting for influxd to finish compacting ...", flush=True)
            wait_idle(influxd.pid, at_least_s=75.0)
            manifest_path.write_text(json.dumps(manifest | {"built_s": round(built_s, 1)}, indent=1))
        else:
            wait_idle(influxd.pid)
        layout = Layout.plan(
            manifest["anchor_ms"],
            days=spec.days,
            minute_days=spec.minute_days,
            raw_hours=spec.raw_hours,
            minute_district=minute_district(city),
            timezone=city.timezone,
        )
        yield DataSet(spec, city, city_file, layout, influx, manifest["points"], built_s, directory, influxd.pid)


def build(influx: InfluxSettings, city: City, spec: DataSpec, anchor_ms: int) -> dict[str, Any]:
    """Write the data set into ``influx``; check a sample against the worker; returns the manifest."""
    layout = Layout.plan(
        anchor_ms,
        days=spec.days,
        minute_days=spec.minute_days,
        raw_hours=spec.raw_hours,
        minute_district=minute_district(city),
        timezone=city.timezone,
    )
    asyncio.run(_create(influx))
    signals, tags, day_of = CitySignals(city, spec.seed, anchor_ms), city_tags(city), day_of_hour(layout, city.timezone)
    encoder = LineEncoder(DeviceDirectory.from_city(city))
    meters = {
        t for t, names in DEVICE_METRICS.items() if any(METRICS[n].temporality is Temporality.REGISTER for n in names)
    }
    print(
        f"building the data set: {len(city.devices):,} devices, hours and days from {_iso(layout.start_ms)} to "
        f"{_iso(layout.rolled_to_ms)}, minutes of {layout.minute_district} from {_iso(layout.minute_from_ms)}, "
        f"raw from {_iso(layout.raw_from_ms)} to {_iso(anchor_ms)}",
        flush=True,
    )
    started = last_report = time.perf_counter()
    with BulkWriter(influx.url, influx.database) as writer:
        for done, device in enumerate(city.devices, start=1):
            data = device_data(signals, device, layout, tags[device.id], day_of)
            writer.add(HOUR.retention_policy, tier_lines(data.hours))
            writer.add(DAY.retention_policy, tier_lines(data.days))
            writer.add(MINUTE.retention_policy, tier_lines(between(data.minutes, layout.minutes_kept_from(device))))
            first_raw = next((i for i, r in enumerate(data.readings) if r.ts_ms >= layout.raw_from_ms), 0)
            raw = data.readings[max(0, first_raw - 1) if device.type in meters else first_raw :]
            writer.add("", [line for reading in raw for line in encoder.encode(reading)])
            if time.perf_counter() - last_report >= 5.0 or done == len(city.devices):
                last_report = time.perf_counter()
                _report(done, len(city.devices), writer.points, last_report - started)
        writer.add(
            "",
            [
                progress_line(MINUTE.name.value, layout.rolled_to_ms),
                progress_line(HOUR.name.value, layout.rolled_to_ms),
                progress_line(DAY.name.value, layout.days_to_ms),
                progress_line(LATE_CURSOR, anchor_ms),
            ],
        )
    write_s = time.perf_counter() - started
    check = asyncio.run(
        check_against_worker(influx, city, layout, signals, tags, day_of, sample_devices(city, layout.minute_district))
    )
    print(
        f"checked against the roll-up worker ({check.devices} devices, hours {', '.join(map(_iso, check.hours))} "
        f"and the day of {_iso(check.day[0])}): {check.minute_points:,} minute, {check.hour_points:,} hour and "
        f"{check.day_points:,} day points equal",
        flush=True,
    )
    return {
        "spec": asdict(spec),
        "anchor_ms": anchor_ms,
        "points": {("raw" if rp == "" else rp): n for rp, n in sorted(writer.points.items())},
        "write_s": round(write_s, 1),
        "checked": asdict(check),
    }


async def _create(influx: InfluxSettings) -> None:
    async with InfluxClient(influx) as client:
        await ensure_retention(client, RollupPolicy(), apply_raw=False)


def _report(done: int, total: int, points: dict[str, int], elapsed: float) -> None:
    written = sum(points.values())
    left = elapsed / done * (total - done)
    tiers = ", ".join(f"{'raw' if rp == '' else rp} {n / 1e6:.2f}M" for rp, n in sorted(points.items()))
    print(
        f"  {done:>6,}/{total:,} devices  {tiers}  {written / elapsed:,.0f} points/s  "
        f"{elapsed:.0f} s, ~{left:.0f} s to go",
        flush=True,
    )


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ms / 1000))
