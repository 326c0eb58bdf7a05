"""A faulty city's history through the real pipeline: the simulator back-fills simulated time with fault episodes
(and their ground-truth log) into a real broker, a real ``smartcity gateway`` child process stores it in a real
influxd.

:func:`run_faulty_city` is shared by the fault-episode integration test and the data-quality benchmark's data set
(``bench/quality_data.py``): the simulator runs in this process (one worker), the gateway in its own, so on two
cores each gets one. The run ends once every device has caught up with the end of the back-fill and the broker
acknowledged everything it sent, and the gateway has accounted for every reading (stored, or dead-lettered and
counted by reason). A reading the simulator had to drop (a full outbox: the back-fill rate was more than the
pipeline takes) would be a gap that no truth record explains, so the run then fails.

Fault episodes are a pure function of the seed and of simulated time (:mod:`devices.episodes`), so a history
that ends at a fixed instant (:data:`HISTORY_END_MS`) holds the same faults on every day it is built; the gateway
then accepts readings as far back as the back-fill's start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devices.run_options import RunOptions
from devices.runner import Simulation
from devices.settings import SimulatorSettings
from devices.snapshot import Snapshot
from gateway.settings import LimitSettings
from smartcity.city.load import dump_city
from smartcity.city.model import City
from smartcity.localservices.gateway import GatewayProcess
from smartcity.rollups import HOUR_MS, RollupPolicy
from smartcity.settings import InfluxSettings, MqttSettings

HISTORY_END_MS = 1_793_491_200_000
"""2026-11-01T00:00Z: where a test's faulty history ends, the same faults whichever day it runs."""
HISTORY_RETENTION = RollupPolicy(raw_days=35, minute_days=0, hour_days=0, day_days=0)
"""A history in the past keeps its roll-up tiers for ever, so none of its points is beyond retention."""
SETTLED_MS = 2 * HOUR_MS
"""The roll-up and quality workers' clocks stand this long after a history's end: every hour closed and settled."""


@dataclass(frozen=True, slots=True)
class FaultyRun:
    """What one run did."""

    summary: Snapshot
    """The simulator's summary (readings made, faults, ledger per device)."""
    accepted: int
    """Readings the gateway accepted (stored)."""
    rejected: dict[str, int]
    """Dead-lettered inputs by reason (empty when everything landed)."""
    wall_s: float


def gateway_env(mqtt: MqttSettings, influx: InfluxSettings, city_file: Path) -> dict[str, str]:
    return {
        "SMARTCITY_GATEWAY_MQTT__HOST": mqtt.host,
        "SMARTCITY_GATEWAY_MQTT__PORT": str(mqtt.port),
        "SMARTCITY_GATEWAY_MQTT__CLIENT_ID": f"gw-{mqtt.topic_root}",
        "SMARTCITY_GATEWAY_MQTT__TOPIC_ROOT": mqtt.topic_root,
        "SMARTCITY_GATEWAY_INFLUX__URL": influx.url,
        "SMARTCITY_GATEWAY_INFLUX__DATABASE": influx.database,
        "SMARTCITY_GATEWAY_CITY_FILE": str(city_file),
        "SMARTCITY_GATEWAY_LOG_LEVEL": "WARNING",
    }


async def run_faulty_city(
    city: City,
    options: RunOptions,
    *,
    mqtt: MqttSettings,
    influx: InfluxSettings,
    workdir: Path,
    timeout_s: float = 600.0,
) -> FaultyRun:
    """Back-fill ``options.backfill_s`` of ``city`` ending at ``options.start_ms`` (the episodes and truth file as
    ``options`` say) through the broker and a gateway child process into ``influx``; see the module docstring."""
    end_ms = options.start_ms
    if end_ms is None or options.backfill_s <= 0:
        raise ValueError("a faulty-city run needs a start instant and a back-fill")
    city_file = workdir / "city.json"
    await asyncio.to_thread(_write_city, city, city_file)
    started = time.monotonic()
    reach_s = int(time.time() - end_ms / 1000 + options.backfill_s) + 86_400  # the back-fill's start, a day to spare
    past = {"SMARTCITY_GATEWAY_LIMITS__MAX_PAST_S": str(max(LimitSettings().max_past_s, reach_s))}
    env = gateway_env(mqtt, influx, city_file) | past
    gateway = GatewayProcess(workdir / "gateway", env)
    gateway.start()
    try:
        await asyncio.to_thread(_wait_subscribed, gateway, timeout_s=30.0)
        options = dataclasses.replace(options, duration_s=None)
        sim = Simulation(SimulatorSettings(mqtt=mqtt), city, city.devices, options)
        stop = asyncio.Event()
        task = asyncio.create_task(sim.run(stop))
        await _until_caught_up(sim, end_ms, task, deadline=started + timeout_s)
        stop.set()
        summary = await task
        dropped = {name: value for name, value in summary.counters.items() if name.startswith("dropped") and value}
        if dropped:
            raise RuntimeError(f"the simulator dropped readings (lower the back-fill rate): {dropped}")
        accepted, rejected = await asyncio.to_thread(_settled, gateway, summary, deadline=started + timeout_s)
    finally:
        gateway.stop()
    return FaultyRun(summary, accepted, rejected, time.monotonic() - started)


async def _until_caught_up(sim: Simulation, end_ms: int, task: asyncio.Task[Snapshot], *, deadline: float) -> None:
    cores = [device.core for device in sim.broadband] + [device.core for device in sim.narrowband]
    while True:
        if task.done():
            task.result()
            raise RuntimeError("the simulation ended before its back-fill did")
        caught_up = all(core.dead or core.next_ms >= end_ms for core in cores)
        sent = all(device.idle for device in sim.broadband) and (sim.server is None or sim.server.idle)
        if caught_up and sent and not any(device.backlog for device in sim.narrowband):
            return
        if time.monotonic() > deadline:
            behind = sum(1 for core in cores if not core.dead and core.next_ms < end_ms)
            raise TimeoutError(f"{behind} devices still back-filling (or sending) at the deadline")
        await asyncio.sleep(0.2)


def _write_city(city: City, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dump_city(city))


def _sent(summary: Snapshot) -> int:
    counters = summary.counters
    return (
        counters.readings
        - counters.dropped_over_radio_budget
        - counters.dropped_device_buffer_full
        - counters.dropped_netserver_buffer_full
    )


def _wait_subscribed(gateway: GatewayProcess, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _metrics(gateway).get("broker_connected", 0.0) != 1.0:
        if time.monotonic() > deadline:
            raise TimeoutError("gateway not subscribed\n" + gateway.log_tail())
        time.sleep(0.1)


def _metrics(gateway: GatewayProcess) -> dict[str, float]:
    try:
        return gateway.metrics()
    except httpx.HTTPError:
        return {}


def _settled(gateway: GatewayProcess, summary: Snapshot, *, deadline: float) -> tuple[int, dict[str, int]]:
    """Wait until the gateway accounted for every reading the devices sent and holds nothing unwritten."""
    expected = _sent(summary)
    accepted, rejected = 0, {}
    while time.monotonic() < deadline:
        metrics = _metrics(gateway)
        accepted = int(metrics.get("readings_accepted_total", 0.0))
        rejected = {
            name.removeprefix("rejected_total{reason=").rstrip("}"): int(value)
            for name, value in metrics.items()
            if name.startswith("rejected_total{") and value
        }
        idle = metrics.get("inflight_unacked", 1.0) == 0 and metrics.get("spool_depth", 1.0) == 0
        if accepted + sum(rejected.values()) >= expected and idle:
            return accepted, rejected
        time.sleep(0.2)
    counters = {name: value for name, value in summary.counters.items() if value}
    raise TimeoutError(
        f"gateway accounted for {accepted} + {sum(rejected.values())} of {expected} readings; simulator: {counters}\n"
        + gateway.log_tail()
    )
