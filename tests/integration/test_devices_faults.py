"""Injected faults show on the wire exactly as the summary counts them, and backfill publishes the past."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter

import msgspec

from devices.clock import now_ms
from devices.faults import MALFORMED_PAYLOAD, Fault, FaultPlan
from devices.run_options import RunOptions
from devices.runner import Simulation
from devices.settings import SimulatorSettings
from devices.snapshot import Snapshot
from smartcity.city.model import DeviceType
from smartcity.contract.messages import Status
from smartcity.contract.metrics import METRICS
from smartcity.settings import MqttSettings
from tests.support.devices import Collector, simulator_city


async def _run(mqtt: MqttSettings, options: RunOptions, types: list[DeviceType], seconds: float) -> Snapshot:
    city = simulator_city(types, report_interval_s=1)
    sim = Simulation(SimulatorSettings(mqtt=mqtt, reconnect_min_s=0.2), city, city.devices, options)
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    await sim.wait_connected(timeout_s=15)
    await asyncio.sleep(seconds)
    stop.set()
    summary = await task
    await asyncio.sleep(0.3)
    return summary


async def test_message_faults_on_the_wire_match_the_summary(mqtt_settings: MqttSettings, topic_root: str) -> None:
    live = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/+/reading"])
    faults = FaultPlan.parse(["duplicate=0.2", "malformed=0.1", "spikes=0.1", "reorder=0.1", "stuck=1"])
    summary = await _run(mqtt_settings, RunOptions(seed=8, speed=40, faults=faults), [DeviceType.NOISE], 2.0)
    topic = f"{topic_root}/v1/dev/bb-0/reading"
    payloads = live.payloads(topic)
    malformed = [p for p in payloads if p == MALFORMED_PAYLOAD]
    readings = [json.loads(p) for p in payloads if p != MALFORMED_PAYLOAD]
    seqs = [r["seq"] for r in readings]
    copies = Counter(seqs)
    counted = summary.faults
    assert len(malformed) == counted[Fault.MALFORMED] > 0
    assert sum(n - 1 for n in copies.values()) == counted[Fault.DUPLICATE] > 0
    assert sum(1 for a, b in itertools.pairwise(seqs) if b < a) >= 1
    assert counted[Fault.REORDER] > 0
    ledger = summary.devices["bb-0"]
    assert sorted(copies) == list(range(ledger.first_seq, ledger.last_seq + 1))  # nothing lost
    spiked = {r["seq"]: r["m"]["laeq"] for r in readings if r["seq"] in ledger.spiked}
    assert spiked
    assert all(value > METRICS["laeq"].maximum for value in spiked.values())
    assert len(ledger.spiked) == counted[Fault.SPIKES]
    steady = [
        r["m"]["laeq"] for r in sorted(readings, key=lambda r: r["seq"]) if r["seq"] >= 3 and r["seq"] not in spiked
    ]
    assert len(set(steady)) == 1  # stuck: the first metric repeats its value
    await live.stop()


async def test_battery_depletion_kills_the_device_and_the_will_fires(
    mqtt_settings: MqttSettings, topic_root: str
) -> None:
    watch = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/+/status", f"{topic_root}/v1/dev/+/reading"])
    options = RunOptions(seed=2, speed=10, duration_s=5, faults=FaultPlan.parse(["battery=1"]))
    city = simulator_city([DeviceType.WEATHER], report_interval_s=1)
    sim = Simulation(SimulatorSettings(mqtt=mqtt_settings), city, city.devices, options)
    summary = await sim.run(asyncio.Event())
    await asyncio.sleep(0.3)
    states = [msgspec.json.decode(p, type=Status) for p in watch.payloads(f"{topic_root}/v1/dev/bb-0/status")]
    assert [(s.state.value, s.reason) for s in states][-1] == ("offline", "will")
    batteries = [json.loads(p)["m"]["battery"] for p in watch.payloads(f"{topic_root}/v1/dev/bb-0/reading")]
    assert batteries == sorted(batteries, reverse=True)
    assert batteries[-1] < batteries[0]
    assert summary.faults[Fault.BATTERY] == 1
    await watch.stop()


async def test_backfill_publishes_the_past_hour_then_goes_live(mqtt_settings: MqttSettings, topic_root: str) -> None:
    live = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/+/reading"])
    start = now_ms()
    options = RunOptions(seed=1, backfill_s=3600, backfill_rate=400, start_ms=start)
    city = simulator_city([DeviceType.WEATHER, DeviceType.AIR_QUALITY], report_interval_s=60)
    sim = Simulation(SimulatorSettings(mqtt=mqtt_settings), city, city.devices, options)
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    topic = f"{topic_root}/v1/dev/bb-0/reading"
    await live.wait_for(lambda: len(live.payloads(topic)) >= 60, timeout_s=20)
    stop.set()
    await task
    readings = [json.loads(p) for p in live.payloads(topic)]
    assert [r["seq"] for r in readings] == list(range(len(readings)))
    assert start - 3_600_000 <= readings[0]["ts"] < start - 3_540_000  # the first reading is an hour old
    gaps = {b["ts"] - a["ts"] for a, b in itertools.pairwise(readings)}
    assert gaps == {60_000}  # one reading per report interval, the whole hour through
    await live.stop()
