"""The simulator against the real fixture broker: birth and status retained, the will on dropout, gap-free
sequence numbers, determinism, narrowband backlog and budgets, commands (also to a sleeping device), and a clean
shutdown that leaves every device offline."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import msgspec

from devices.faults import Fault, FaultPlan
from devices.mqtt5 import encode_topic
from devices.run_options import RunOptions
from devices.runner import Simulation
from devices.settings import SimulatorSettings
from devices.snapshot import Snapshot
from smartcity.city.model import City, DeviceType, RadioProfile
from smartcity.contract.messages import Birth, Command, CommandAck, Status
from smartcity.contract.senml import decode_senml_cbor
from smartcity.settings import MqttSettings
from tests.support.devices import Collector, simulator_city

NIGHT = int(datetime(2026, 1, 15, 22, 0, tzinfo=UTC).timestamp() * 1000)


async def _start(
    mqtt: MqttSettings, city: City, options: RunOptions
) -> tuple[Simulation, asyncio.Event, asyncio.Task[Snapshot]]:
    sim = Simulation(SimulatorSettings(mqtt=mqtt, reconnect_min_s=0.2), city, city.devices, options)
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    await sim.wait_connected(timeout_s=15)
    return sim, stop, task


def _readings(collector: Collector, root: str, device_id: str) -> list[dict[str, Any]]:
    return [json.loads(p) for p in collector.payloads(f"{root}/v1/dev/{device_id}/reading")]


async def test_retained_birth_gap_free_readings_and_clean_shutdown(
    mqtt_settings: MqttSettings, topic_root: str
) -> None:
    city = simulator_city([DeviceType.AIR_QUALITY, DeviceType.NOISE, DeviceType.WEATHER], report_interval_s=1)
    live = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/#"], "live")
    _sim, stop, task = await _start(mqtt_settings, city, RunOptions(seed=3, speed=20))
    await asyncio.sleep(1.5)
    stop.set()
    summary = await task
    await asyncio.sleep(0.3)
    for device in city.devices:
        seqs = [r["seq"] for r in _readings(live, topic_root, device.id)]
        ledger = summary.devices[device.id]
        assert seqs == list(range(ledger.first_seq, ledger.last_seq + 1))
        assert len(seqs) > 10
    assert summary.counters.acked == summary.counters.messages_sent
    await live.stop()
    late = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/+/birth", f"{topic_root}/v1/dev/+/status"])
    await late.wait_for(lambda: sum(len(v) for v in late.messages.values()) >= 2 * len(city.devices))
    for device in city.devices:
        [(birth_raw, birth_retained)] = late.messages[f"{topic_root}/v1/dev/{device.id}/birth"]
        birth = msgspec.json.decode(birth_raw, type=Birth)
        assert birth_retained
        assert birth.ipv6 == str(device.ipv6)
        assert birth.network == "broadband"
        assert birth.bound_ipv6 is False  # this machine does not carry the city's ULA addresses
        [(status_raw, status_retained)] = late.messages[f"{topic_root}/v1/dev/{device.id}/status"]
        status = msgspec.json.decode(status_raw, type=Status)
        assert status_retained
        assert (status.state, status.reason) == ("offline", "shutdown")
    await late.stop()


async def test_dropout_fires_the_will_and_the_device_comes_back(mqtt_settings: MqttSettings, topic_root: str) -> None:
    city = simulator_city([DeviceType.NOISE], report_interval_s=1)
    watch = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/+/status", f"{topic_root}/v1/dev/+/reading"])
    options = RunOptions(seed=1, speed=5, duration_s=6, faults=FaultPlan.parse(["dropout=1"]))
    _sim, _, task = await _start(mqtt_settings, city, options)
    summary = await task
    await asyncio.sleep(0.3)
    states = [msgspec.json.decode(p, type=Status) for p in watch.payloads(f"{topic_root}/v1/dev/bb-0/status")]
    reasons = [(s.state.value, s.reason) for s in states]
    will = reasons.index(("offline", "will"))
    assert ("online", "connected") in reasons[will:]  # reconnected after the backoff
    assert reasons[-1] == ("offline", "shutdown")
    assert summary.faults[Fault.DROPOUT] == 1
    # Readings made while the device was away were kept and sent after the reconnect: nothing is missing.
    seqs = {r["seq"] for r in _readings(watch, topic_root, "bb-0")}
    ledger = summary.devices["bb-0"]
    assert seqs == set(range(ledger.first_seq, ledger.last_seq + 1))
    await watch.stop()


async def test_same_seed_and_start_give_the_same_readings(mqtt_settings: MqttSettings, topic_root: str) -> None:
    city = simulator_city([DeviceType.WEATHER, DeviceType.TRAFFIC_COUNTER], report_interval_s=60)
    runs = []
    for _ in range(2):
        live = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/+/reading"])
        _, stop, task = await _start(mqtt_settings, city, RunOptions(seed=11, speed=600, start_ms=NIGHT))
        await asyncio.sleep(1.0)
        stop.set()
        await task
        await asyncio.sleep(0.2)
        await live.stop()
        runs.append({d.id: _readings(live, topic_root, d.id) for d in city.devices})
    for device in city.devices:
        first, second = runs[0][device.id], runs[1][device.id]
        common = min(len(first), len(second))
        assert common >= 5
        assert first[:common] == second[:common]


async def test_narrowband_backlog_arrives_after_coverage_returns(mqtt_settings: MqttSettings, topic_root: str) -> None:
    city = simulator_city(narrowband=[(DeviceType.WEATHER, RadioProfile.LORAWAN_SF12)])
    live = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/+/senml-cbor"])
    sim, stop, task = await _start(mqtt_settings, city, RunOptions(seed=2, speed=3000))
    device = sim.narrowband[0]
    device.coverage_override = False
    await asyncio.sleep(1.2)  # 1 h of device time: about 12 wakes out of coverage
    buffered = len(device.backlog)
    assert buffered >= 5
    assert not live.messages
    device.coverage_override = True
    topic = f"{topic_root}/v1/dev/nb-0/senml-cbor"

    def seqs() -> list[int]:
        found = []
        for payload in live.payloads(topic):
            found += [int(r.v) for r in decode_senml_cbor(payload) if r.n == "seq" and isinstance(r.v, int | float)]
        return found

    await live.wait_for(lambda: set(range(buffered)) <= set(seqs()), timeout_s=20)
    stop.set()
    await task
    assert all(len(payload) <= RadioProfile.LORAWAN_SF12.payload_budget for payload in live.payloads(topic))
    assert seqs()[:1] != [0]  # the backlog came after newer readings: late and out of order
    await live.stop()


async def test_commands_round_trip_including_a_sleeping_device(mqtt_settings: MqttSettings, topic_root: str) -> None:
    city = simulator_city(
        [DeviceType.STREET_LIGHT], [(DeviceType.WEATHER, RadioProfile.LORAWAN_SF7)], report_interval_s=60
    )
    live = await Collector().start(
        mqtt_settings,
        [f"{topic_root}/v1/dev/+/cmd-ack", f"{topic_root}/v1/dev/+/reading", f"{topic_root}/v1/dev/+/senml-cbor"],
    )
    sim, stop, task = await _start(mqtt_settings, city, RunOptions(seed=4, speed=120, start_ms=NIGHT))
    assert live.session is not None
    for device_id, name, args in (
        ("bb-0", "set_dim_level", {"level": 35}),
        ("nb-0", "set_report_interval", {"seconds": 600}),
    ):
        command = Command(id=f"c-{device_id}", name=name, args=args, ts_ms=NIGHT)  # type: ignore[arg-type]
        cmd_topic = encode_topic(f"{topic_root}/v1/dev/{device_id}/cmd")
        live.session.publish(cmd_topic, msgspec.json.encode(command), qos=1)
    acks = {d: f"{topic_root}/v1/dev/{d}/cmd-ack" for d in ("bb-0", "nb-0")}
    await live.wait_for(lambda: all(live.payloads(t) for t in acks.values()), timeout_s=20)
    for device_id, topic in acks.items():
        ack = msgspec.json.decode(live.payloads(topic)[0], type=CommandAck)
        assert (ack.id, ack.status) == (f"c-{device_id}", "ok")
    await live.wait_for(lambda: any(r["m"]["dim_level"] == 35 for r in _readings(live, topic_root, "bb-0")))
    assert sim.narrowband[0].core.controls.report_interval_s == 600
    stop.set()
    await task
    await live.stop()
