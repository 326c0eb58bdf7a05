"""The quality tests' city and data: five air-quality sensors in one district (peers for drift) and a narrowband
one, readings every five minutes for ``HOURS`` hours with one fault of each value kind planted on its own device,
and the ground truth of what was planted."""

from __future__ import annotations

import math
from ipaddress import IPv6Address
from pathlib import Path

from services.quality.metrics import QualityMetrics
from services.quality.settings import QualitySettings
from services.quality.worker import QualityWorker
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker
from services.rollup.worker import WorkerConfig as RollupConfig
from smartcity.city.directory import DeviceDirectory
from smartcity.city.model import City, DeviceType, NetworkClass, RadioProfile
from smartcity.contract.reading import Reading, Value
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.influx.schema import device_health_point
from smartcity.quality_truth import FaultKind
from smartcity.rollups import LocalDays, RollupPolicy
from smartcity.settings import InfluxSettings
from tests.support.api_support import FACILITIES, NORTH, SOUTH
from tests.support.cities import ULA, device_at

HOUR = 3_600_000
STEP = 300_000
HOURS = 40
STUCK = ("aq-1", 10, 16)
"""(device, first hour, hour it moves again)."""
SPIKE = ("aq-2", 20)
DRIFT = ("aq-3", 26)
OFFLINE = ("aq-4", 5, 8)
BATTERY = ("nb-1", 20)
PLANTED = {
    "aq-1": FaultKind.STUCK,
    "aq-2": FaultKind.SPIKE,
    "aq-3": FaultKind.DRIFT,
    "aq-4": FaultKind.OFFLINE,
    "nb-1": FaultKind.BATTERY,
}


def quality_city() -> City:
    school = FACILITIES[0]
    devices = [
        device_at(
            school, f"aq-{n}", DeviceType.AIR_QUALITY, IPv6Address(f"fd12:3456:789a:1::{n:x}"), report_interval_s=300
        )
        for n in range(1, 6)
    ]
    devices.append(
        device_at(
            school,
            "nb-1",
            DeviceType.AIR_QUALITY,
            IPv6Address("fd12:3456:789a:1::99"),
            network=NetworkClass.NARROWBAND,
            radio=RadioProfile.LORAWAN_SF7,
            report_interval_s=300,
        )
    )
    return City(
        name="Faultville", seed=3, ula_prefix=ULA, districts=[NORTH, SOUTH], facilities=FACILITIES, devices=devices
    )


def write_quality_city(path: Path) -> Path:
    path.write_text(quality_city().model_dump_json(indent=1), encoding="utf-8")
    return path


def _pm25(device: str, index: int, ts: int, start: int) -> float | None:
    """A shared diurnal wave, a per-device offset and noise; the planted fault of the device on top."""
    hour = (ts - start) / HOUR
    number = int(device.rsplit("-", 1)[1]) if device.startswith("aq-") else 6
    value = 12 + number * 0.7 + 4 * math.sin(hour / 24 * 2 * math.pi) + 0.8 * math.sin(index * 2.39 + number)
    if device == STUCK[0] and STUCK[1] <= hour < STUCK[2]:
        return 12.34
    if device == SPIKE[0] and index == SPIKE[1] * 12 + 5:
        return value + 60
    if device == DRIFT[0] and hour >= DRIFT[1]:
        return value + 1.5 * (hour - DRIFT[1])
    if device == OFFLINE[0] and OFFLINE[1] <= hour < OFFLINE[2]:
        return None
    return round(value, 2)


def quality_readings(start: int) -> list[Reading]:
    out = []
    for device in ("aq-1", "aq-2", "aq-3", "aq-4", "aq-5", "nb-1"):
        for index in range(HOURS * 12):
            ts = start + index * STEP
            value = _pm25(device, index, ts, start)
            if value is None:
                continue
            values: dict[str, Value] = {"pm25": value}
            if device == "nb-1":
                hour = index / 12
                values["battery"] = round(90 - max(0.0, hour - BATTERY[1]) * 2.5, 2)
            out.append(Reading(device, index, ts, values))
    return out


def quality_lines(readings: list[Reading]) -> bytes:
    encoder = LineEncoder(DeviceDirectory.from_city(quality_city()))
    return "\n".join(line for reading in readings for line in encoder.encode(reading)).encode()


def quality_start(now_ms: int) -> int:
    """The first hour of the readings: they run until two hours after ``now_ms``, so every hour the roll-ups
    close holds data."""
    return (now_ms // HOUR - HOURS + 2) * HOUR


async def fill_and_judge(influx_settings: InfluxSettings, start: int, now_ms: int) -> None:
    """Write the readings from ``start`` and a skewed clock for aq-5, roll them up with the real roll-up worker
    and judge them with the real quality worker until neither has a backlog."""
    city = quality_city()
    lookback_h = (now_ms - start) // HOUR + 1
    async with InfluxClient(influx_settings) as influx, TierClients(influx_settings) as tiers:
        await ensure_retention(influx, RollupPolicy(), apply_raw=False)
        await influx.write(quality_lines(quality_readings(start)))
        skewed = DeviceDirectory.from_city(city).get("aq-5")
        assert skewed is not None
        fields: dict[str, Value] = {
            "online": True,
            "last_seen_ms": now_ms,
            "clock_offset_ms": 120_000,
            "clock_at_ms": now_ms,
        }
        await influx.write(device_health_point(skewed, replica="gw-1", fields=fields, ts_ms=now_ms).encode())
        config = RollupConfig(120, 1_000, lookback_h, 35, 86_400)
        rollup = RollupWorker(influx, tiers, LocalDays(city.timezone), config, RollupMetrics())
        for _ in range(20):
            await rollup.cycle()
            if not rollup.backlog:
                break
        settings = QualitySettings(start_lookback_h=lookback_h, max_hours_per_cycle=1_000)
        worker_config = settings.worker_config()
        worker = QualityWorker(influx, city, worker_config, QualityMetrics())
        for _ in range(20):
            await worker.cycle()
            if not worker.backlog:
                return
    raise AssertionError("the quality worker never caught up")
