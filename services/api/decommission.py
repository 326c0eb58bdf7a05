"""Decommissioning a device: what of its data leaves InfluxDB, and the statements that remove it.

The policy, decided per measurement of the device's metrics (:func:`plan`):

- a measurement whose metrics of this device are all published as *environmental* open data (per sensor, not
  person-related: air quality, noise, weather, flood levels) is history of the city's air, noise, weather or
  water, not of a person. It is kept when ``SMARTCITY_API_DECOMMISSION_KEEPS_ENVIRONMENTAL`` is on (the default);
- every other measurement is removed: person-related data (occupancy of schools, hospitals, nursing homes, a
  street parking bay) and everything not published openly;
- when anything is removed, the platform's own records of the device go too (``device_health``,
  ``dead_letters``, ``quality_flag``): they carry its id and its traffic pattern.

On InfluxDB 1.x one ``DROP SERIES FROM <measurements> WHERE "device" = $device`` removes the series from every
retention policy of the database at once (raw points in the default policy and the roll-ups in ``rp_1m``,
``rp_1h``, ``rp_1d``): series and shards belong to the database, the statement takes no retention policy. The
device id is a bind parameter; the measurement names come from the metric registry, never from the request.
How InfluxDB 2.x and 3.x do the same is in docs/PRIVACY.md.

Where the API is given the broker's password file and PID file (``SMARTCITY_API_BROKER_PASSWORD_FILE``,
``SMARTCITY_API_BROKER_PID_FILE``), the device's account leaves the password file first and Mosquitto is told to
re-read it (SIGHUP: the device cannot connect again and its open session is closed); with
``SMARTCITY_API_DECOMMISSION_EDITS_CITY`` the device leaves the city file too, so a running gateway and API stop
accepting it and regenerated credentials leave it out. Each step finds nothing to do when repeated.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from services.opendata.datasets import DATASETS, SpatialGranularity
from smartcity.city.load import dump_city, load_city
from smartcity.city.model import Device
from smartcity.contract.metrics import DEVICE_METRICS, METRICS
from smartcity.influx.client import InfluxClient, quote_identifier
from smartcity.influx.schema import DEAD_LETTERS, DEVICE_HEALTH
from smartcity.quality_flags import QUALITY_FLAG

PLATFORM_MEASUREMENTS = (DEAD_LETTERS, DEVICE_HEALTH, QUALITY_FLAG)
"""The platform's own records that carry a device tag."""


def environmental_metrics(device: Device) -> frozenset[str]:
    """The device's metrics published at full resolution as environmental open data at its facility's kind."""
    return frozenset(
        metric
        for dataset in DATASETS.values()
        if dataset.spatial is SpatialGranularity.SENSOR and not dataset.person_related
        for metric in dataset.metrics
        if metric in DEVICE_METRICS[device.type]
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What decommissioning one device does to its measurements."""

    remove: tuple[str, ...]
    keep: tuple[str, ...]


def plan(device: Device, *, keep_environmental: bool) -> Plan:
    """Which of the device's measurements go and which stay (sorted names)."""
    environmental = environmental_metrics(device) if keep_environmental else frozenset()
    by_measurement: dict[str, set[str]] = {}
    for metric in DEVICE_METRICS[device.type]:
        by_measurement.setdefault(METRICS[metric].measurement, set()).add(metric)
    keep = sorted(m for m, metrics in by_measurement.items() if metrics <= environmental)
    remove = sorted(m for m in by_measurement if m not in keep)
    if remove:
        remove = sorted({*remove, *PLATFORM_MEASUREMENTS})
    return Plan(tuple(remove), tuple(keep))


def metrics_in(device: Device, measurements: tuple[str, ...]) -> list[str]:
    """The device's metrics that live in ``measurements``."""
    return [metric for metric in DEVICE_METRICS[device.type] if METRICS[metric].measurement in measurements]


def _from(measurements: tuple[str, ...]) -> str:
    return ", ".join(quote_identifier(m) for m in measurements)


def revoke_account(password_file: Path, device_id: str) -> bool:
    """Remove the device's line from the broker's password file (written next to it, renamed over it, owner-only);
    False when it had none."""
    lines = password_file.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.split(":", 1)[0] != device_id]
    if len(kept) == len(lines):
        return False
    fresh = password_file.with_name(password_file.name + ".new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(kept)
    os.replace(fresh, password_file)
    return True


def reload_broker(pid_file: Path) -> int:
    """SIGHUP to the broker whose PID the file holds (Mosquitto re-reads its password and ACL files and closes the
    sessions of accounts that are gone); returns the PID."""
    pid = int(pid_file.read_text(encoding="utf-8").strip())
    os.kill(pid, signal.SIGHUP)
    return pid


def remove_from_city(city_file: Path, device_id: str) -> bool:
    """Write the city file without the device (next to it, renamed over it); False when it was not in it."""
    city = load_city(city_file)
    kept = [device for device in city.devices if device.id != device_id]
    if len(kept) == len(city.devices):
        return False
    fresh = city_file.with_name(city_file.name + ".new")
    fresh.write_bytes(dump_city(city.model_copy(update={"devices": kept})))
    os.replace(fresh, city_file)
    return True


async def count_series(influx: InfluxClient, device_id: str, measurements: tuple[str, ...]) -> int:
    """Series of ``device_id`` in ``measurements`` (the series index is one per database: every retention
    policy's series together)."""
    if not measurements:
        return 0
    found = await influx.query(
        f'SHOW SERIES FROM {_from(measurements)} WHERE "device" = $device', {"device": device_id}
    )
    return sum(len(series.values) for series in found)


async def remove(influx: InfluxClient, device_id: str, measurements: tuple[str, ...]) -> int:
    """Drop the device's series from ``measurements`` in every retention policy; returns how many there were."""
    if not measurements:
        return 0
    before = await count_series(influx, device_id, measurements)
    await influx.query(f'DROP SERIES FROM {_from(measurements)} WHERE "device" = $device', {"device": device_id})
    return before
