"""The gateway against the real fixture broker and influxd: readings land, bad input is dead-lettered with the
right reason while valid readings around it land, and a message is acknowledged only once its points are durable
(spooled while influxd is down; redelivered by the broker to a restarted gateway when never made durable)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import cbor2

from gateway.service import run
from gateway.settings import GatewaySettings
from smartcity.contract.reading import Reading
from smartcity.contract.senml import encode_senml_cbor, encode_senml_json
from smartcity.influx.client import InfluxClient
from smartcity.localservices import InfluxdProcess
from smartcity.localservices.process import free_port
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.cities import write_city
from tests.support.gateway_clients import connect, count_points, drain, eventually, metric, publish_all

_START_MS = int(time.time() * 1000) - 3_600_000


def _reading(device: str, seq: int, **values: float) -> bytes:
    """A reading whose timestamp follows its seq: two readings of one device never share a point."""
    return json.dumps({"dev": device, "seq": seq, "ts": _START_MS + seq, "m": values or {"no2": 12.5}}).encode()


def _settings(tmp_path: Path, mqtt: MqttSettings, influx: InfluxSettings, **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "mqtt": mqtt.model_copy(update={"client_id": f"gw-{mqtt.topic_root}"}),
        "influx": influx,
        "city_file": write_city(tmp_path / "city.json"),
        "spool_dir": tmp_path / "spool",
        "http_port": 0,
        "batch_ms": 20,
        "health_interval_s": 0.5,
    }
    values.update(overrides)
    return GatewaySettings.model_validate(values)


@asynccontextmanager
async def gateway(settings: GatewaySettings) -> AsyncIterator[int]:
    """Run the gateway in this process; yields its HTTP port; stops it like SIGTERM would."""
    port_file = settings.spool_dir / "http.port"
    port_file.unlink(missing_ok=True)
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop))

    async def started() -> bool:
        if task.done():
            task.result()
        return port_file.exists()

    await eventually(started, what="gateway start")
    port = int(port_file.read_text())

    async def subscribed() -> bool:
        return await metric(port, "broker_connected") == 1

    await eventually(subscribed, what="gateway subscribed")
    try:
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def _points(influx: InfluxSettings, expected: int) -> Callable[[], object]:
    async def check() -> bool:
        return await count_points(influx, "air_quality", "no2") >= expected

    return check


async def test_valid_readings_land_and_every_bad_input_is_dead_lettered(
    tmp_path: Path, mqtt_settings: MqttSettings, influx_settings: InfluxSettings
) -> None:
    root = mqtt_settings.topic_root
    dead_client, dead = connect(mqtt_settings, subscribe=f"{root}/v1/sys/dead-letter/+")
    publisher, _ = connect(mqtt_settings)
    bad = {
        "malformed-json": (f"{root}/v1/dev/aq-1/reading", b'{"dev": "aq-1", '),
        "unknown-device": (f"{root}/v1/dev/ghost-9/reading", _reading("ghost-9", 0)),
        "out-of-range": (f"{root}/v1/dev/aq-1/reading", _reading("aq-1", 1000, no2=-5.0)),
        "unknown-metric": (f"{root}/v1/dev/aq-1/reading", _reading("aq-1", 1001, lamp_power=3.0)),
        "topic-mismatch": (f"{root}/v1/dev/aq-2/reading", _reading("aq-1", 1002)),
        "oversized": (f"{root}/v1/dev/aq-1/reading", b"{" + b" " * 70_000 + b"}"),
        "malformed-cbor": (f"{root}/v1/dev/aq-1/senml-cbor", b"\xff\x00\x13garbage"),
        "empty-pack": (f"{root}/v1/dev/aq-1/senml-cbor", cbor2.dumps([])),
        "too-many-records": (f"{root}/v1/dev/aq-1/senml-cbor", cbor2.dumps([{0: "aq-1:no2", 2: 1.0}] * 2000)),
        "duplicate-key": (
            f"{root}/v1/dev/aq-1/reading",
            b'{"dev": "aq-1", "seq": 7, "ts": %d, "m": {"no2": 1.0, "no2": 2.0}}' % _START_MS,
        ),
        "wrong-type": (f"{root}/v1/dev/aq-1/reading", _reading("aq-1", 1003, no2="high")),  # type: ignore[arg-type]
        "non-finite": (
            f"{root}/v1/dev/aq-1/reading",
            b'{"dev": "aq-1", "seq": 8, "ts": %d, "m": {"no2": NaN}}' % _START_MS,
        ),
    }
    invalid_utf8 = (f"{root}/v1/dev/aq-1/reading", b'{"dev": "aq-\xff", "seq": 1, "ts": 1, "m": {}}')
    # A narrowband backlog: one SenML CBOR pack with three readings of the parking bay, and a JSON SenML pack.
    backlog = [Reading("park-1", seq, _START_MS + 1000 * seq, {"occupied": seq % 2 == 0}) for seq in range(3)]
    messages: list[tuple[str, bytes]] = [
        (f"{root}/v1/dev/park-1/senml-cbor", encode_senml_cbor(backlog)),
        (f"{root}/v1/dev/noise-1/senml", encode_senml_json([Reading("noise-1", 0, _START_MS, {"laeq": 51.5})])),
    ]
    expected = sorted([*bad, "malformed-json"])
    for seq in range(40):
        messages.append((f"{root}/v1/dev/aq-1/reading", _reading("aq-1", seq)))
        if seq % 3 == 0 and bad:
            messages.append(bad.popitem()[1])
    assert not bad
    messages.append(invalid_utf8)
    try:
        async with gateway(_settings(tmp_path, mqtt_settings, influx_settings)) as port:
            publish_all(publisher, messages)
            await eventually(_points(influx_settings, 40), what="40 readings in InfluxDB")  # type: ignore[arg-type]

            async def all_dead_letters() -> bool:
                return await metric(port, "inflight_unacked") == 0 and dead.qsize() >= len(expected)

            await eventually(all_dead_letters, what=f"{len(expected)} dead letters")
            letters = [json.loads(message.payload) for message in drain(dead)]
            assert sorted(letter["reason"] for letter in letters) == expected
            by_reason = {letter["reason"]: letter for letter in letters}
            assert by_reason["malformed-cbor"]["payload_encoding"] == "base64"
            assert '{"dev": "aq-1", ' in [letter["payload"] for letter in letters]
            binary = sorted(letter["reason"] for letter in letters if letter["payload_encoding"] == "base64")
            assert binary == ["empty-pack", "malformed-cbor", "malformed-json", "too-many-records"]  # CBOR, bad UTF-8
            assert by_reason["unknown-device"]["topic"] == f"{root}/v1/dev/ghost-9/reading"
            assert await metric(port, "rejected_total", 'reason="out-of-range"') == 1
            assert await metric(port, "readings_accepted_total") == 44
            assert await count_points(influx_settings, "air_quality", "no2") == 40
            assert await count_points(influx_settings, "parking", "occupied") == 3
            assert await count_points(influx_settings, "noise", "laeq") == 1
            assert await metric(port, "messages_received_total", 'kind="senml-cbor"') == 4  # 1 valid, 3 bad
    finally:
        for client in (dead_client, publisher):
            client.loop_stop()
            client.disconnect()


async def test_while_influxdb_is_down_messages_are_spooled_acked_and_replayed(
    tmp_path: Path, mqtt_settings: MqttSettings, influxd_factory: Callable[..., InfluxdProcess]
) -> None:
    influxd = influxd_factory()
    influx = InfluxSettings(url=influxd.url, database="spooltest")
    publisher, _ = connect(mqtt_settings)
    root = mqtt_settings.topic_root
    try:
        async with gateway(_settings(tmp_path, mqtt_settings, influx, write_retry_s=0.3)) as port:
            publish_all(publisher, [(f"{root}/v1/dev/aq-1/reading", _reading("aq-1", 0))])
            await eventually(_points(influx, 1), what="first reading in InfluxDB")  # type: ignore[arg-type]
            influxd.stop()
            publish_all(publisher, [(f"{root}/v1/dev/aq-1/reading", _reading("aq-1", seq)) for seq in range(1, 31)])

            async def spooled_and_acked() -> bool:
                spooled = await metric(port, "spooled_points_total")
                return spooled >= 30 and await metric(port, "inflight_unacked") == 0

            await eventually(spooled_and_acked, what="30 readings spooled and acknowledged")
            assert await metric(port, "spool_depth") >= 30
            influxd.start()
            await eventually(_points(influx, 31), within_s=40, what="spool replayed")  # type: ignore[arg-type]

            async def spool_empty() -> bool:
                return await metric(port, "spool_depth") == 0

            await eventually(spool_empty, what="empty spool")
        assert await count_points(influx, "air_quality", "no2") == 31
    finally:
        publisher.loop_stop()
        publisher.disconnect()


async def test_messages_never_made_durable_are_redelivered_to_the_restarted_gateway(
    tmp_path: Path, mqtt_settings: MqttSettings, influx_settings: InfluxSettings
) -> None:
    root = mqtt_settings.topic_root
    nowhere = InfluxSettings(url=f"http://127.0.0.1:{free_port()}", database=influx_settings.database, timeout_s=1)
    # Writes fail and are retried for longer than the test: nothing becomes durable, so nothing may be acked.
    blocked = _settings(tmp_path, mqtt_settings, nowhere, write_retry_s=3600)
    publisher, _ = connect(mqtt_settings)
    try:
        stop = asyncio.Event()
        crashed = asyncio.create_task(run(blocked, stop=stop))
        port_file = blocked.spool_dir / "http.port"

        async def up() -> bool:
            return port_file.exists() and await metric(int(port_file.read_text()), "broker_connected") == 1

        await eventually(up, what="blocked gateway subscribed")
        blocked_port = int(port_file.read_text())
        publish_all(publisher, [(f"{root}/v1/dev/aq-2/reading", _reading("aq-2", seq)) for seq in range(20)])

        async def received_not_acked() -> bool:
            return await metric(blocked_port, "inflight_unacked") == 20

        await eventually(received_not_acked, what="20 messages held un-acked")
        crashed.cancel()  # no drain: the process goes away with its batches in flight
        await asyncio.gather(crashed, return_exceptions=True)
        port_file.unlink()
        async with gateway(_settings(tmp_path, mqtt_settings, influx_settings)) as port:
            await eventually(_points(influx_settings, 20), what="redelivered readings in InfluxDB")  # type: ignore[arg-type]
            assert await metric(port, "messages_received_total", 'kind="reading"') >= 20
        assert await count_points(influx_settings, "air_quality", "no2") == 20
    finally:
        publisher.loop_stop()
        publisher.disconnect()


async def test_points_influxdb_refuses_are_dead_lettered_with_its_reason_and_the_rest_land(
    tmp_path: Path, mqtt_settings: MqttSettings, influx_settings: InfluxSettings
) -> None:
    root = mqtt_settings.topic_root
    async with InfluxClient(influx_settings) as influx:
        # A string "no2" in the same shard: every float no2 written there is a field type conflict (HTTP 400).
        await influx.write(f'air_quality,device=legacy no2="n/a" {_START_MS}'.encode())
    dead_client, dead = connect(mqtt_settings, subscribe=f"{root}/v1/sys/dead-letter/+")
    publisher, _ = connect(mqtt_settings)
    messages = [(f"{root}/v1/dev/noise-1/reading", _reading("noise-1", seq, laeq=40.0 + seq)) for seq in range(10)]
    messages.insert(5, (f"{root}/v1/dev/aq-1/reading", _reading("aq-1", 3, no2=7.0)))
    try:
        async with gateway(_settings(tmp_path, mqtt_settings, influx_settings, batch_ms=500)) as port:
            publish_all(publisher, messages)

            async def settled() -> bool:
                return await metric(port, "inflight_unacked") == 0 and dead.qsize() >= 1

            await eventually(settled, what="the refused point dead-lettered and everything acked")
            (letter,) = [json.loads(message.payload) for message in drain(dead)]
            assert letter["reason"] == "store-rejected"
            assert "field type conflict" in letter["detail"]
            assert letter["payload"].startswith("air_quality,device=aq-1,")
            assert letter["topic"] == f"{root}/v1/dev/aq-1/reading"
            assert await count_points(influx_settings, "noise", "laeq") == 10
    finally:
        for client in (dead_client, publisher):
            client.loop_stop()
            client.disconnect()
