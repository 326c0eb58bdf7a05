"""Builds the gateway's in-process parts on the in-memory twins (unit tests) and makes test payloads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.batching import AckLedger, Batch
from gateway.deadletter import DeadLetters
from gateway.health import DeviceHealth
from gateway.intake import Intake, IntakeParts
from gateway.metrics import GatewayMetrics
from smartcity.city.directory import DeviceDirectory
from smartcity.contract.parse import ParseLimits
from tests.support.cities import small_city
from tests.support.contract import SCHEME
from tests.support.gateway_twins import MemoryBroker

_last_ms = [0]


def reading(device: str = "aq-1", seq: int = 0, ts_ms: int | None = None, **values: object) -> bytes:
    """A contract JSON reading (default: one NO2 value, timestamped now: a millisecond later than the last one,
    as two different readings of one device at the same millisecond are a timestamp collision)."""
    if ts_ms is None:
        _last_ms[0] = ts_ms = max(int(time.time() * 1000), _last_ms[0] + 1)
    ts = ts_ms
    return json.dumps({"dev": device, "seq": seq, "ts": ts, "m": values or {"no2": 21.5}}).encode()


@dataclass
class Parts:
    broker: MemoryBroker
    metrics: GatewayMetrics
    ledger: AckLedger
    health: DeviceHealth
    dead_letters: DeadLetters
    intake: Intake
    sealed: list[Batch]
    directory: DeviceDirectory


def build(
    *,
    batch_size: int = 100,
    batch_ms: int = 20,
    on_sealed: Callable[[Batch], None] | None = None,
    tmp: Path | None = None,
) -> Parts:
    """Intake and friends on twins; sealed batches go to ``parts.sealed`` unless ``on_sealed`` is given."""
    directory = DeviceDirectory.from_city(small_city())
    broker, metrics = MemoryBroker(), GatewayMetrics()
    parts = IntakeParts.wire(SCHEME, directory, broker, metrics)
    sealed: list[Batch] = []
    intake = parts.intake(
        limits=ParseLimits(), batch_size=batch_size, batch_ms=batch_ms, on_sealed=on_sealed or sealed.append
    )
    return Parts(broker, metrics, parts.ledger, parts.health, parts.dead_letters, intake, sealed, directory)
