"""Two API processes on one PostgreSQL state database and one broker, as replicas behind a load balancer: a key
made once works on both, the public rate limit is one budget across them (not one each), a command sent through
one replica is settled by the device's ack and reads the same on the other, and their audit records form one
intact chain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import httpx
import msgspec
import pytest

from services.api import auditchain
from services.api.keys import Role
from services.api.state import StateStore
from services.api.statedb import open_database
from smartcity.contract.messages import Command, CommandAck
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.api_replicas import ApiReplica
from tests.support.api_support import write_api_city
from tests.support.postgres_server import PostgresProcess

BURST = 4


@pytest.fixture
def replicas(
    tmp_path: Path, postgres: PostgresProcess, influx_settings: InfluxSettings, mqtt_settings: MqttSettings
) -> Iterator[tuple[list[ApiReplica], str, str]]:
    url = postgres.create_database(f"replicas_{uuid.uuid4().hex[:12]}")
    with StateStore(url) as store:
        key = store.create(Role.OPERATOR, (), "both replicas")[1]
    city_file = write_api_city(tmp_path / "city.json")
    started: list[ApiReplica] = []
    try:
        for n in range(2):
            env = {
                "SMARTCITY_API_CITY_FILE": str(city_file),
                "SMARTCITY_API_STATE_URL": url,
                "SMARTCITY_API_INFLUX__URL": influx_settings.url,
                "SMARTCITY_API_INFLUX__DATABASE": influx_settings.database,
                "SMARTCITY_API_COMMANDS": "true",
                "SMARTCITY_API_MQTT__HOST": mqtt_settings.host,
                "SMARTCITY_API_MQTT__PORT": str(mqtt_settings.port),
                "SMARTCITY_API_MQTT__TOPIC_ROOT": mqtt_settings.topic_root,
                "SMARTCITY_API_MQTT__CLIENT_ID": f"api-{mqtt_settings.topic_root}-{n}",  # one session per replica
                "SMARTCITY_API_PUBLIC_RATE_PER_S": "0.01",
                "SMARTCITY_API_PUBLIC_BURST": str(BURST),
            }
            started.append(ApiReplica(tmp_path / f"api-{n}", env).start())
        yield started, key, url
    finally:
        for replica in started:
            replica.stop()


async def _device(mqtt: MqttSettings, ready: asyncio.Event) -> None:
    """light-n1: answers every command with an ok ack."""
    root = mqtt.topic_root
    async with aiomqtt.Client(mqtt.host, mqtt.port, identifier=f"{root}-light-n1") as device:
        await device.subscribe(f"{root}/v1/dev/light-n1/cmd", qos=1)
        ready.set()
        async for message in device.messages:
            assert isinstance(message.payload, bytes)
            command = msgspec.json.decode(message.payload, type=Command)
            ack = CommandAck(id=command.id, status="ok", ts_ms=command.ts_ms + 1)
            await device.publish(f"{root}/v1/dev/light-n1/cmd-ack", msgspec.json.encode(ack), qos=1)


async def _send(client: httpx.AsyncClient, level: int) -> str:
    """POST a command; retried while the replica's broker link is still coming up (503)."""
    async with asyncio.timeout(15):
        while True:
            sent = await client.post(
                "/v1/devices/light-n1/commands", json={"name": "set_dim_level", "args": {"level": level}}
            )
            if sent.status_code != 503:
                assert sent.status_code == 202, sent.text
                return str(sent.json()["id"])
            await asyncio.sleep(0.1)


async def _state_of(client: httpx.AsyncClient, command_id: str) -> str:
    async with asyncio.timeout(10):
        while (state := (await client.get(f"/v1/commands/{command_id}")).json()["state"]) == "sent":  # noqa: ASYNC110  # polling the API is what a client does
            await asyncio.sleep(0.05)
    return str(state)


async def test_two_replicas_share_keys_limits_commands_and_the_audit_chain(
    replicas: tuple[list[ApiReplica], str, str], mqtt_settings: MqttSettings
) -> None:
    (first, second), key, url = replicas
    headers = {"Authorization": f"Bearer {key}"}
    ready = asyncio.Event()
    device = asyncio.create_task(_device(mqtt_settings, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with (
            httpx.AsyncClient(base_url=first.url, headers=headers, trust_env=False) as a,
            httpx.AsyncClient(base_url=second.url, headers=headers, trust_env=False) as b,
        ):
            via_a = await _send(a, 20)
            via_b = await _send(b, 30)
            assert await _state_of(b, via_a) == "acked"  # sent by one replica, read on the other
            assert await _state_of(a, via_b) == "acked"
            listed = (await a.get("/v1/devices/light-n1/commands")).json()["items"]
            assert {c["id"] for c in listed} == {via_a, via_b}

            public: list[int] = []
            async with (
                httpx.AsyncClient(base_url=first.url, trust_env=False) as pa,
                httpx.AsyncClient(base_url=second.url, trust_env=False) as pb,
            ):
                for n in range(2 * BURST):
                    public.append((await (pa if n % 2 == 0 else pb).get("/v1/districts")).status_code)
            assert public == [200] * BURST + [429] * BURST  # one burst across both replicas, not one each
    finally:
        device.cancel()
        with pytest.raises(asyncio.CancelledError):
            await device

    db = open_database(url)
    try:
        async with asyncio.timeout(10):  # each replica's audit writer flushes every 0.1 s
            while db.execute("SELECT count(*) FROM audit").fetchone()[0] < 6:  # noqa: ASYNC110  # another process writes
                await asyncio.sleep(0.05)
        verdict = auditchain.verify(db)
        assert verdict.intact
        assert verdict.records >= 6
        settled = db.execute("SELECT state FROM commands ORDER BY sent_ms").fetchall()
        assert [row[0] for row in settled] == ["acked", "acked"]
    finally:
        db.close()
