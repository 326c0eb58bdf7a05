"""Load mode: N sessions publish a given total rate; every reading the ledger lists reaches a subscriber."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.loadgen import broadband_city, run_load
from smartcity.city.model import NetworkClass
from smartcity.settings import MqttSettings


def test_broadband_city_has_exactly_the_asked_sessions() -> None:
    city = broadband_city(30, seed=2)
    assert len(city.devices) == 30
    assert all(device.network is NetworkClass.BROADBAND for device in city.devices)


@pytest.mark.parametrize("burst", [1, 3])
def test_load_mode_rate_and_ledger_match_what_arrives(mqtt_settings: MqttSettings, topic_root: str, burst: int) -> None:
    seen: dict[str, list[int]] = {}
    lock = threading.Lock()
    ready = threading.Event()

    def on_message(_client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        reading = json.loads(message.payload)
        with lock:
            seen.setdefault(reading["dev"], []).append(reading["seq"])

    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"count-{topic_root}", protocol=mqtt.MQTTv5)
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *_args: ready.set()
    subscriber.connect(mqtt_settings.host, mqtt_settings.port)
    subscriber.subscribe(f"{topic_root}/v1/dev/+/reading", qos=1)
    subscriber.loop_start()
    assert ready.wait(10)
    summary = run_load(mqtt_settings, devices=20, rate=400, duration_s=2.0, burst=burst)
    time.sleep(0.5)
    subscriber.loop_stop()
    subscriber.disconnect()
    ledger = summary.devices
    assert set(ledger) == set(seen)
    for device_id, entry in ledger.items():
        assert seen[device_id] == list(range(entry.first_seq, entry.last_seq + 1))  # in order, no gap
    total = sum(entry.sent for entry in ledger.values())
    assert 600 <= total <= 1000  # 400 readings/s for 2 s of publishing, within scheduling slack
