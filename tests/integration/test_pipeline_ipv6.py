"""The pipeline pieces end to end over IPv6: a JSON reading published with paho (MQTT 5) to the fixture broker on
[::1] is received, parsed against the device directory, encoded to line protocol, written to the fixture influxd,
and read back with InfluxQL bind parameters. A reading from an unknown device is refused on the way."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from smartcity.city.directory import DeviceDirectory, DeviceInfo
from smartcity.city.model import DeviceType, FacilityKind, NetworkClass
from smartcity.contract.parse import parse_message
from smartcity.contract.reading import Reading, RejectReason
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.contract.wire import encode_reading_json
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.settings import InfluxSettings, MqttSettings

DIRECTORY = DeviceDirectory(
    [
        DeviceInfo("aq-0001", DeviceType.AIR_QUALITY, "north", "school-7", FacilityKind.SCHOOL, NetworkClass.BROADBAND),
        DeviceInfo("aq-0002", DeviceType.AIR_QUALITY, "south", "park-2", FacilityKind.PARK, NetworkClass.BROADBAND),
    ]
)


def _connect(settings: MqttSettings, received: queue.Queue[mqtt.MQTTMessage] | None = None) -> mqtt.Client:
    """A connected MQTT 5 client with its network loop running (in paho's thread)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    connected = threading.Event()
    reasons: list[ReasonCode] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        reasons.append(reason)
        connected.set()

    client.on_connect = on_connect
    if received is not None:
        client.on_message = lambda _c, _u, message: received.put(message)
    client.connect(settings.host, settings.port)
    client.loop_start()
    assert connected.wait(5), "no CONNACK"
    assert not reasons[0].is_failure, reasons[0]
    return client


@pytest.fixture
def subscriber(mqtt_settings: MqttSettings) -> Iterator[tuple[mqtt.Client, queue.Queue[mqtt.MQTTMessage]]]:
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client = _connect(mqtt_settings, received)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_args: subscribed.set()
    client.subscribe(TopicScheme(mqtt_settings.topic_root).device_filter(TopicKind.READING), qos=1)
    assert subscribed.wait(5), "no SUBACK"
    yield client, received
    client.disconnect()
    client.loop_stop()


async def test_reading_travels_from_paho_over_ipv6_to_influxql(
    mqtt_settings: MqttSettings,
    influx_settings: InfluxSettings,
    subscriber: tuple[mqtt.Client, queue.Queue[mqtt.MQTTMessage]],
) -> None:
    scheme = TopicScheme(mqtt_settings.topic_root)
    now_ms = int(time.time() * 1000)
    good = Reading("aq-0001", seq=41, ts_ms=now_ms - 1_000, values={"no2": 23.4, "pm25": 8.125, "battery": 97.0})
    other = Reading("aq-0002", seq=7, ts_ms=now_ms - 900, values={"no2": 55.0})
    unknown = Reading("aq-9999", seq=1, ts_ms=now_ms - 800, values={"no2": 1.0})

    publisher = _connect(mqtt_settings)
    try:
        peer = publisher.socket().getpeername()  # type: ignore[union-attr]
        assert peer[:2] == ("::1", mqtt_settings.port)  # really IPv6, really the fixture broker
        for reading in (good, other, unknown):
            info = publisher.publish(
                scheme.device(reading.device_id, TopicKind.READING), encode_reading_json(reading), 1
            )
            info.wait_for_publish(timeout=5)
            assert info.is_published()
    finally:
        publisher.disconnect()
        publisher.loop_stop()

    _, received = subscriber
    messages = [await asyncio.to_thread(received.get, True, 5.0) for _ in range(3)]
    encoder = LineEncoder(DIRECTORY)
    lines: list[str] = []
    rejected: list[tuple[str | None, RejectReason]] = []
    for message in messages:
        outcome = parse_message(
            message.topic, bytes(message.payload), scheme=scheme, directory=DIRECTORY, now_ms=now_ms
        )
        rejected += [(rejection.device_id, rejection.reason) for rejection in outcome.rejections]
        for reading in outcome.readings:
            lines += encoder.encode(reading)
    assert rejected == [("aq-9999", RejectReason.UNKNOWN_DEVICE)]

    async with InfluxClient(influx_settings) as client:
        await client.write("\n".join(lines).encode())
        found = await client.query(
            'SELECT * FROM "air_quality" WHERE "district" = $district AND "facility_kind" = $kind AND time >= $since',
            {"district": "north", "kind": "school", "since": (now_ms - 60_000) * 1_000_000},
        )
        vitals = await client.query('SELECT "battery" FROM "device_vitals" WHERE "device" = $d', {"d": "aq-0001"})
        everything = await client.query('SELECT count("no2") FROM "air_quality"')

    (series,) = found
    (row,) = series.records()
    # Tags come from the directory, never from the payload; the timestamp is the device's.
    assert row == {
        "time": good.ts_ms,
        "device": "aq-0001",
        "device_type": "air_quality",
        "district": "north",
        "facility": "school-7",
        "facility_kind": "school",
        "no2": 23.4,
        "pm25": 8.125,
        "seq": 41,
    }
    assert vitals[0].values == [[good.ts_ms, 97.0]]
    assert everything[0].values[0][1] == 2  # aq-0001 and aq-0002; the unknown device wrote nothing
