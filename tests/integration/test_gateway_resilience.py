"""The gateway across a broker restart (persistent session, resubscribe, nothing lost), a frozen broker (half-open
connection noticed, reconnect), and as two replicas in one ``$share`` group (the load is split, every reading lands
once)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from gateway.service import run
from gateway.settings import GatewaySettings
from smartcity.localservices import MosquittoProcess
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.cities import write_city
from tests.support.gateway_clients import connect, count_points, eventually, metric, publish_all

_START_MS = int(time.time() * 1000) - 3_600_000


def _readings(root: str, device: str, seqs: range) -> list[tuple[str, bytes]]:
    return [
        (
            f"{root}/v1/dev/{device}/reading",
            json.dumps({"dev": device, "seq": s, "ts": _START_MS + s, "m": {"no2": 2.0}}).encode(),
        )
        for s in seqs
    ]


def _settings(
    tmp_path: Path, name: str, mqtt: MqttSettings, influx: InfluxSettings, **extra: object
) -> GatewaySettings:
    return GatewaySettings.model_validate(
        {
            "mqtt": mqtt.model_copy(update={"client_id": name}),
            "influx": influx,
            "city_file": write_city(tmp_path / "city.json"),
            "spool_dir": tmp_path / name,
            "http_port": 0,
            "batch_ms": 20,
            **extra,
        }
    )


async def _start(settings: GatewaySettings) -> tuple[asyncio.Event, asyncio.Task[None], int]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop))
    port_file = settings.spool_dir / "http.port"

    async def subscribed() -> bool:
        if task.done():
            task.result()
        return port_file.exists() and await metric(int(port_file.read_text()), "broker_connected") == 1

    await eventually(subscribed, what=f"{settings.mqtt.client_id} subscribed")
    return stop, task, int(port_file.read_text())


async def test_a_broker_restart_loses_nothing(
    tmp_path: Path,
    mosquitto_factory: Callable[..., MosquittoProcess],
    influx_settings: InfluxSettings,
    topic_root: str,
) -> None:
    broker = mosquitto_factory(persistence=True)
    mqtt = MqttSettings(host="::1", port=broker.port, topic_root=topic_root)
    stop, task, port = await _start(_settings(tmp_path, "gw-restart", mqtt, influx_settings))
    try:
        publisher, _ = connect(mqtt)
        publish_all(publisher, _readings(topic_root, "aq-1", range(10)))
        publisher.loop_stop()
        publisher.disconnect()
        await eventually(lambda: _count(influx_settings, 10), what="first 10 readings")
        await asyncio.to_thread(broker.restart)  # SIGTERM: mosquitto saves its sessions, then starts again

        async def reconnected() -> bool:
            return await metric(port, "broker_connected") == 1

        await eventually(reconnected, within_s=30, what="gateway reconnected")
        publisher, _ = connect(mqtt)
        publish_all(publisher, _readings(topic_root, "aq-1", range(10, 20)))
        publisher.loop_stop()
        publisher.disconnect()
        await eventually(lambda: _count(influx_settings, 20), what="20 readings after the restart")
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def test_two_replicas_in_a_shared_group_split_the_load(
    tmp_path: Path, mqtt_settings: MqttSettings, influx_settings: InfluxSettings
) -> None:
    group = {"shared_group": f"g{mqtt_settings.topic_root}"}
    first = await _start(_settings(tmp_path, f"a-{mqtt_settings.topic_root}", mqtt_settings, influx_settings, **group))
    second = await _start(_settings(tmp_path, f"b-{mqtt_settings.topic_root}", mqtt_settings, influx_settings, **group))
    try:
        publisher, _ = connect(mqtt_settings)
        publish_all(publisher, _readings(mqtt_settings.topic_root, "aq-2", range(200)))
        publisher.loop_stop()
        publisher.disconnect()
        await eventually(lambda: _count(influx_settings, 200), what="200 readings")
        shares = [
            await metric(port, "messages_received_total", 'kind="reading"') for _stop, _task, port in (first, second)
        ]
        assert sum(shares) == 200
        assert all(share > 0 for share in shares), shares
    finally:
        for stop, task, _port in (first, second):
            stop.set()
            await asyncio.wait_for(task, 60)


async def _count(influx: InfluxSettings, expected: int) -> bool:
    return await count_points(influx, "air_quality", "no2") >= expected


async def test_a_frozen_broker_is_noticed_and_the_gateway_reconnects_when_it_thaws(
    tmp_path: Path,
    mosquitto_factory: Callable[..., MosquittoProcess],
    influx_settings: InfluxSettings,
    topic_root: str,
) -> None:
    broker = mosquitto_factory(persistence=True)
    mqtt = MqttSettings(host="::1", port=broker.port, topic_root=topic_root, keepalive_s=5)
    stop, task, port = await _start(_settings(tmp_path, "gw-frozen", mqtt, influx_settings, watchdog_s=3))
    try:
        os.kill(broker.pid, signal.SIGSTOP)  # the TCP connection stays up, nothing answers: half-open
        try:

            async def noticed() -> bool:
                return await metric(port, "broker_connected") == 0

            await eventually(noticed, within_s=30, what="the silent connection dropped")
        finally:
            os.kill(broker.pid, signal.SIGCONT)

        async def reconnected() -> bool:
            return await metric(port, "broker_connected") == 1

        await eventually(reconnected, within_s=40, what="reconnected after the broker thawed")
        publisher, _ = connect(mqtt)
        publish_all(publisher, _readings(topic_root, "aq-1", range(5)))
        publisher.loop_stop()
        publisher.disconnect()
        await eventually(lambda: _count(influx_settings, 5), what="readings after the reconnect")
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
