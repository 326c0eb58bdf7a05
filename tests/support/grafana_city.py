"""The database the Grafana panel queries are proven against: the filled city (its own copy, loaded from the same
cache), rolled up by the real roll-up worker, with the platform's own records that readings alone do not give:

- ``device_health`` from the gateway's own :class:`gateway.health.DeviceHealth` fed with every stored reading's
  sequence number of the last :data:`HEALTH_HOURS` hours, one point per device and hour as a replica writes them;
  every device says hello (online) at the start, :func:`offline_device` goes offline :data:`OFFLINE_H` hours
  before the end;
- ``dead_letters`` through the core's :func:`smartcity.influx.schema.dead_letter_point`, a few per reason.

The data set ends at the start of its UTC hour (``end_ms``); the proof takes that as Grafana's "now".
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from gateway.health import DeviceHealth
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker, WorkerConfig
from smartcity.city.directory import DeviceDirectory
from smartcity.city.model import City, DeviceType
from smartcity.contract.messages import DeadLetter
from smartcity.contract.reading import RejectReason
from smartcity.influx.client import InfluxClient
from smartcity.influx.schema import dead_letter_point
from smartcity.rollups import LocalDays, RollupPolicy
from smartcity.settings import InfluxSettings
from tests.support.filled_city import FilledCity, load_filled_city

HOUR_MS = 3_600_000
ROLLUP_LOOKBACK_H = 30
"""The worker starts at the local day holding ``now - 30 h``: at least one whole local day and 30 hours."""
HEALTH_HOURS = 24
OFFLINE_H = 6
"""Before the 4 h the proof moves "now" back just after local midnight, so the device is offline by then too."""
REPLICA = "gw-proof"
LETTER_REASONS = (RejectReason.OUT_OF_RANGE, RejectReason.MALFORMED_JSON, RejectReason.UNKNOWN_DEVICE)


@dataclass(frozen=True, slots=True)
class GrafanaCity:
    filled: FilledCity
    influx: InfluxSettings
    offline: str
    """The device whose last status is offline."""


def offline_device(city: City) -> str:
    return next(device.id for device in city.devices if device.type is DeviceType.STREET_LIGHT)


def load_grafana_city(influx_url: str) -> GrafanaCity:
    """Load, roll up and complete the proof database (synchronous: a fixture calls it)."""
    database = f"grafana_{uuid.uuid4().hex[:10]}"
    filled = load_filled_city(influx_url, database=database)
    settings = InfluxSettings(url=influx_url, database=database, timeout_s=120.0)
    offline = offline_device(filled.city)
    asyncio.run(_complete(settings, filled, offline))
    return GrafanaCity(filled=filled, influx=settings, offline=offline)


async def _complete(settings: InfluxSettings, filled: FilledCity, offline: str) -> None:
    async with InfluxClient(settings) as influx, TierClients(settings) as tiers:
        await ensure_retention(influx, RollupPolicy(), apply_raw=False)
        config = WorkerConfig(120, 10_000, ROLLUP_LOOKBACK_H, 35, 86_400)
        worker = RollupWorker(influx, tiers, LocalDays(filled.city.timezone), config, RollupMetrics())
        for _ in range(20):
            await worker.cycle()
            if not worker.backlog:
                break
        else:
            raise AssertionError("the roll-up worker never caught up")
        lines = [*await _health_lines(influx, filled, offline), *_letter_lines(filled)]
        await influx.write("\n".join(lines).encode(), precision="ms")


async def _health_lines(influx: InfluxClient, filled: FilledCity, offline: str) -> list[str]:
    start = filled.end_ms - HEALTH_HOURS * HOUR_MS
    answer = await influx.query(
        'SELECT "seq" FROM "device_vitals" WHERE time >= $start AND time < $end GROUP BY "device"',
        {"start": start * 1_000_000, "end": filled.end_ms * 1_000_000},
    )
    readings = sorted(
        (int(row[0]), series.tags["device"], int(row[1]))
        for series in answer
        for row in series.values
        if isinstance(row[0], int) and isinstance(row[1], int)
    )
    health = DeviceHealth(DeviceDirectory.from_city(filled.city), replica=REPLICA)
    for member in filled.city.devices:
        health.set_online(member.id, True, start)
    lines: list[str] = []
    hours = iter(range(start + HOUR_MS, filled.end_ms + 1, HOUR_MS))
    hour_end = next(hours)
    for ts, device, seq in readings:
        while ts >= hour_end:
            if hour_end == filled.end_ms - OFFLINE_H * HOUR_MS:
                health.set_online(offline, False, hour_end - 1)
            lines += health.lines(hour_end)
            hour_end = next(hours, filled.end_ms + HOUR_MS)
        health.observe(device, seq, ts, ts)
    lines += health.lines(filled.end_ms - 1)
    return lines


def _letter_lines(filled: FilledCity) -> list[str]:
    device = filled.city.devices[0].id
    lines = []
    for index, reason in enumerate(LETTER_REASONS):
        for n in range(3 + index):
            received = filled.end_ms - (n + 1) * 2 * HOUR_MS - index * 60_000
            letter = DeadLetter(
                reason=reason.value,
                detail=f"proof letter {n}",
                topic=f"city/v1/dev/{device}/reading",
                received_ms=received,
                payload="{}",
                device_id=device,
                payload_bytes=2,
            )
            lines.append(dead_letter_point(letter, gateway=REPLICA, known_device=True, ts_ms=received))
    return lines
