"""Onboarding and removing devices at run time, against the real broker, gateway and API: a device added to the
city file gets broker credentials (``smartcity city credentials --reload-broker``: Mosquitto re-reads its files on
SIGHUP) and is accepted by a running gateway and API without a restart; a device removed from it can no longer
connect, its readings are dead-lettered and the API no longer knows it."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from services.api.keys import Role
from smartcity.city.cli import app as city_cli
from smartcity.city.credentials import device_password, read_or_create_secret
from smartcity.city.model import City, DeviceType
from smartcity.localservices import MosquittoProcess
from smartcity.settings import InfluxSettings, MqttSettings
from tests.integration.test_gateway_service import _settings, gateway
from tests.support.api_support import api_city, api_settings, auth, create_key, running
from tests.support.cities import DEVICES, small_city
from tests.support.gateway_clients import connect, count_points, eventually, publish_all

RELOAD_S = 0.1
NOW_MS = int(time.time() * 1000) - 60_000


def _replace(path: Path, city: City) -> None:
    """Write the city next to the file and rename it over it, as an operator's tool should."""
    fresh = path.with_suffix(".new")
    fresh.write_text(city.model_dump_json(indent=1), encoding="utf-8")
    os.replace(fresh, path)


def _connack(broker: MosquittoProcess, username: str, password: str) -> int:
    """The CONNACK reason code a device gets (0: accepted)."""
    answers: list[int] = []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{username}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(username, password)
    client.on_connect = lambda c, u, flags, rc, props: answers.append(rc.value)
    client.connect("::1", broker.port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not answers and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
    assert answers, f"{username}: no CONNACK"
    return answers[0]


def test_credentials_for_an_onboarded_device_take_effect_on_sighup(
    tmp_path: Path, mosquitto_factory: Callable[..., MosquittoProcess]
) -> None:
    before, after = small_city({"aq-1": DeviceType.AIR_QUALITY}), small_city(DEVICES | {"aq-9": DeviceType.AIR_QUALITY})
    city_file, out = tmp_path / "city.json", tmp_path / "auth"
    _replace(city_file, before)
    runner = CliRunner()
    made = runner.invoke(city_cli, ["credentials", str(city_file), "--out", str(out)])
    assert made.exit_code == 0, made.output
    broker = mosquitto_factory(password_file=out / "passwd", acl_file=out / "acl")
    secret = read_or_create_secret(out / "secret")
    assert _connack(broker, "aq-1", device_password(secret, "aq-1")) == 0
    assert _connack(broker, "aq-9", device_password(secret, "aq-9")) != 0  # not in the city yet

    _replace(city_file, after)
    onboarded = runner.invoke(
        city_cli, ["credentials", str(city_file), "--out", str(out), "--reload-broker", str(broker.pid)]
    )
    assert onboarded.exit_code == 0, onboarded.output
    assert f"sent SIGHUP to Mosquitto (PID {broker.pid})" in onboarded.output
    deadline = time.monotonic() + 5
    while _connack(broker, "aq-9", device_password(secret, "aq-9")) != 0:
        assert time.monotonic() < deadline, "the onboarded device was never admitted"
        time.sleep(0.05)
    assert _connack(broker, "aq-9", "a-wrong-password") != 0

    connected: list[str] = []
    session = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="aq-9-live", protocol=mqtt.MQTTv5)
    session.username_pw_set("aq-9", device_password(secret, "aq-9"))
    session.on_connect = lambda c, u, flags, rc, props: connected.append("connected")
    session.on_disconnect = lambda c, u, flags, rc, props: connected.append("disconnected")
    session.reconnect_delay_set(60, 60)
    session.connect("::1", broker.port)
    session.loop_start()
    deadline = time.monotonic() + 5
    while connected != ["connected"]:
        assert time.monotonic() < deadline, connected
        time.sleep(0.02)

    _replace(city_file, before)
    removed = runner.invoke(
        city_cli, ["credentials", str(city_file), "--out", str(out), "--reload-broker", str(broker.pid)]
    )
    assert removed.exit_code == 0, removed.output
    deadline = time.monotonic() + 5
    while _connack(broker, "aq-9", device_password(secret, "aq-9")) == 0:
        assert time.monotonic() < deadline, "the removed device still connects"
        time.sleep(0.05)
    assert _connack(broker, "aq-1", device_password(secret, "aq-1")) == 0
    # Mosquitto 2.0 checks connected clients again on reload: the removed device's open session is closed too
    deadline = time.monotonic() + 5
    while connected != ["connected", "disconnected"]:
        assert time.monotonic() < deadline, connected
        time.sleep(0.02)
    session.loop_stop()


def test_reloading_a_broker_that_is_not_running_is_an_error(tmp_path: Path) -> None:
    city_file = tmp_path / "city.json"
    _replace(city_file, small_city())
    gone = CliRunner().invoke(
        city_cli, ["credentials", str(city_file), "--out", str(tmp_path / "auth"), "--reload-broker", "999999999"]
    )
    assert gone.exit_code == 1
    assert "--reload-broker 999999999: no such process (the files are written)" in gone.output
    assert (tmp_path / "auth" / "passwd").is_file()


def _reading(device: str, seq: int) -> bytes:
    return json.dumps({"dev": device, "seq": seq, "ts": NOW_MS + seq, "m": {"no2": 11.0}}).encode()


async def test_a_running_gateway_accepts_an_onboarded_device_and_refuses_a_removed_one(
    tmp_path: Path, mqtt_settings: MqttSettings, influx_settings: InfluxSettings
) -> None:
    settings = _settings(tmp_path, mqtt_settings, influx_settings, city_reload_s=RELOAD_S)
    _replace(settings.city_file, small_city({"aq-1": DeviceType.AIR_QUALITY}))
    root = mqtt_settings.topic_root
    dead_client, dead = connect(mqtt_settings, subscribe=f"{root}/v1/sys/dead-letter/unknown-device")
    publisher, _ = connect(mqtt_settings)
    try:
        async with gateway(settings):
            publish_all(publisher, [(f"{root}/v1/dev/aq-9/reading", _reading("aq-9", 0))])
            letter = await asyncio.to_thread(dead.get, timeout=10)
            assert json.loads(letter.payload)["topic"] == f"{root}/v1/dev/aq-9/reading"

            _replace(settings.city_file, small_city({"aq-1": DeviceType.AIR_QUALITY, "aq-9": DeviceType.AIR_QUALITY}))
            await asyncio.sleep(RELOAD_S * 5)

            async def landed() -> bool:
                publish_all(publisher, [(f"{root}/v1/dev/aq-9/reading", _reading("aq-9", 1))])
                return await count_points(influx_settings, "air_quality", "no2") >= 1

            await eventually(landed, what="the onboarded device's reading in InfluxDB")

            _replace(settings.city_file, small_city({"aq-1": DeviceType.AIR_QUALITY}))
            await asyncio.sleep(RELOAD_S * 5)
            while not dead.empty():
                dead.get_nowait()
            publish_all(publisher, [(f"{root}/v1/dev/aq-9/reading", _reading("aq-9", 2))])
            letter = await asyncio.to_thread(dead.get, timeout=10)
            assert (
                json.loads(letter.payload)["topic"] == f"{root}/v1/dev/aq-9/reading"
            )  # the topic cache did not keep it
    finally:
        for client in (dead_client, publisher):
            client.disconnect()
            client.loop_stop()


def test_a_running_api_serves_an_onboarded_device_and_forgets_a_removed_one(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    whole = api_city()
    without = whole.model_copy(update={"devices": [d for d in whole.devices if d.id != "aq-s1"]})
    settings = api_settings(tmp_path, influx_settings, city_reload_s=RELOAD_S)
    _replace(settings.city_file, without)
    key = auth(create_key(settings, Role.ADMIN))
    with running(settings) as client:
        assert client.get("/v1/devices/aq-s1").status_code == 404
        _replace(settings.city_file, whole)
        deadline = time.monotonic() + 5
        while (found := client.get("/v1/devices/aq-s1")).status_code != 200:
            assert time.monotonic() < deadline, found.text
            time.sleep(0.05)
        assert found.json()["district_id"] == "south"
        assert client.delete("/v1/devices/aq-s1", headers=key).status_code == 200
        (settings.city_file).write_text("{ not a city", encoding="utf-8")  # a broken file keeps the city in use
        time.sleep(RELOAD_S * 5)
        assert client.get("/v1/devices/aq-s1").status_code == 200
        _replace(settings.city_file, without)
        deadline = time.monotonic() + 5
        while client.get("/v1/devices/aq-s1").status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.delete("/v1/devices/aq-s1", headers=key).status_code == 404
