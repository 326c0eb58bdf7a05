"""Test-side MQTT and InfluxDB helpers for the gateway's integration tests (paho's own network thread is fine
here: this is the test's publisher, not the code under test)."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from smartcity.influx.client import InfluxClient
from smartcity.settings import InfluxSettings, MqttSettings


def connect(settings: MqttSettings, subscribe: str | None = None) -> tuple[mqtt.Client, queue.Queue[mqtt.MQTTMessage]]:
    """A connected MQTT 5 client (network loop in paho's thread); messages on ``subscribe`` go to the queue."""
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    ready = threading.Event()
    reasons: list[ReasonCode] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        reasons.append(reason)
        if subscribe is None:
            ready.set()
        else:
            client.subscribe(subscribe, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *_args: ready.set()
    client.on_message = lambda _c, _u, message: received.put(message)
    client.connect(settings.host, settings.port)
    client.loop_start()
    assert ready.wait(10), "no CONNACK/SUBACK from the fixture broker"
    assert not reasons[0].is_failure, reasons[0]
    return client, received


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    """Publish QoS 1 and wait until the broker acknowledged every message."""
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()


def drain(received: queue.Queue[mqtt.MQTTMessage]) -> list[mqtt.MQTTMessage]:
    items = []
    while not received.empty():
        items.append(received.get_nowait())
    return items


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 20.0, what: str = "condition") -> None:
    """Poll ``check`` until it is true (services answer asynchronously); fail naming ``what``."""
    steps = int(within_s / 0.1)
    for _ in range(steps):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached within {within_s} s")


async def count_points(settings: InfluxSettings, measurement: str, field: str) -> int:
    async with InfluxClient(settings) as influx:
        series = await influx.query(f'SELECT count("{field}") FROM "{measurement}"')
    if not series:
        return 0
    count = series[0].values[0][1]
    assert isinstance(count, int), series
    return count


async def metric(port: int, name: str, labels: str = "") -> float:
    """One sample of the gateway's /metrics (0 when absent)."""
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    wanted = f"smartcity_gateway_{name}{{{labels}}}" if labels else f"smartcity_gateway_{name}"
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split(" ")[1])
    return 0.0
