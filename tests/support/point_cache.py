"""The filled city's cache: its encoded points in one gzip file, named by a hash of what shapes them.

Building the history takes the signal model a minute or two; reading it back takes seconds. The file holds line
protocol, one point per line in time order, timestamps relative to the reference end (see
:mod:`tests.support.city_history`). Its name is a hash of the spec, the history constants and the source of
every module in :data:`SHAPING_MODULES`, so changing any of them builds a new file and removes the old ones.
The bytes are deterministic (gzip without a time stamp or file name): two builds from the same code are equal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.support import city_history

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "filled-city"
"""Kept between pytest runs, ignored by git. Deleting it forces a rebuild."""
CACHE_FORMAT = 1
"""Bump when the file layout changes (the module hashes catch everything else)."""
SHAPING_MODULES = (
    "smartcity.city.generate",
    "smartcity.city.district_layout",
    "smartcity.city.facility_plan",
    "smartcity.city.device_plan",
    "smartcity.city.catalogue",
    "smartcity.city.model",
    "smartcity.city.departments",
    "smartcity.city.geography",
    "smartcity.city.addressing",
    "smartcity.city.directory",
    "smartcity.contract.metrics",
    "smartcity.contract.reading",
    "smartcity.contract.senml",
    "smartcity.contract.cbor",
    "smartcity.influx.lineprotocol",
    "devices.signals",
    "devices.drivers",
    "devices.device_core",
    "devices.narrowband",
    "devices.faults",
    "devices.clock",
    "devices.settings",
    "tests.support.city_history",
    "tests.support.point_cache",
)
"""Modules whose code decides a byte of the cache: the generator, the signal model and the simulator pieces the
history reuses, the SenML encoder (narrowband payload budgets), the line-protocol encoder, and this package."""
_SUFFIX = ".lp.gz"
_BLOCK_BYTES = 4 << 20


def cache_key(spec: city_history.HistorySpec) -> str:
    """A hash of everything the cached bytes depend on; 16 hex digits name the file."""
    digest = hashlib.sha256()
    constants = {
        "format": CACHE_FORMAT,
        "spec": dataclasses.asdict(spec),
        "reference_end_ms": city_history.REFERENCE_END_MS,
        "gap_hours": city_history.GAP_HOURS,
        "late_delay_s": city_history.LATE_DELAY_S,
    }
    digest.update(json.dumps(constants, sort_keys=True).encode())
    for name, source in sorted(source_files().items()):
        digest.update(f"\0{name}\0".encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def source_files() -> dict[str, Path]:
    """Module name -> source file of each shaping module (a renamed module fails here, naming it)."""
    found = {}
    for name in SHAPING_MODULES:
        module = importlib.import_module(name)
        if module.__file__ is None:
            raise RuntimeError(f"shaping module {name} has no source file")
        found[name] = Path(module.__file__)
    return found


def cache_path(cache_dir: Path, spec: city_history.HistorySpec) -> Path:
    return cache_dir / f"{cache_key(spec)}{_SUFFIX}"


def write_cache(path: Path, lines: Iterable[str], manifest: dict[str, object]) -> None:
    """Write the points atomically (a concurrent run sees the old file or the whole new one, never half of it),
    a JSON manifest beside them (what was built, for a human asking why), and remove other caches in the dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".building-", suffix=_SUFFIX)
    os.fchmod(handle, 0o644)  # mkstemp makes it private; the cache is as readable as the checkout
    try:
        with os.fdopen(handle, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
            batch: list[str] = []
            for line in lines:
                batch.append(line)
                if len(batch) == 10_000:
                    out.write(("\n".join(batch) + "\n").encode())
                    batch.clear()
            if batch:
                out.write(("\n".join(batch) + "\n").encode())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    for old in path.parent.glob(f"*{_SUFFIX}"):
        if old != path and not old.name.startswith("."):
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)


def read_cache(path: Path) -> Iterator[list[str]]:
    """The cached lines in their order, in blocks of a few MB (the loader writes the first chunks while the
    rest is still being decompressed, and never holds the whole file in memory)."""
    rest = b""
    with gzip.open(path, "rb") as cached:
        while block := cached.read(_BLOCK_BYTES):
            data = rest + block
            cut = data.rfind(b"\n") + 1  # a newline is always a character boundary in UTF-8
            rest = data[cut:]
            yield data[:cut].decode().splitlines()
    if rest:
        yield [rest.decode()]
