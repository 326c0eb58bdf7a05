"""Commands through the real API process shape (uvicorn, lifespan, broker link) against the fixture mosquitto: a
simulated street light applies one and its state becomes acked; a sleeping device's session gets one queued by
the broker (MQTT 5 message expiry) and nothing after the expiry, when the command is expired; roles; every refusal;
an unreachable broker answers 503 and records nothing, and the link comes back by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import msgspec
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import SecretStr

from devices.run_options import RunOptions
from devices.runner import Simulation
from devices.settings import SimulatorSettings
from services.api.broker import BrokerLink
from services.api.keys import Role, key_id_of
from services.api.settings import ApiSettings
from smartcity.city.credentials import device_password, service_password, write_credentials
from smartcity.contract.messages import Command, CommandAck
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.localservices import MosquittoProcess
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.api_server import Served, serving
from tests.support.api_support import api_city, api_settings, auth, create_key


def _settings(tmp_path: Path, influx: InfluxSettings, mqtt: MqttSettings, **overrides: object) -> ApiSettings:
    account = mqtt.model_copy(update={"username": "api", "client_id": f"api-{mqtt.topic_root}"})
    return api_settings(tmp_path, influx, commands=True, mqtt=account, **overrides)


async def _connected(served: Served) -> BrokerLink:
    link = served.state.commands.publisher
    assert isinstance(link, BrokerLink)
    await asyncio.wait_for(link.connected.wait(), 15)
    return link


async def _until(read: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 15) -> Any:
    async with asyncio.timeout(timeout_s):
        while not done(value := await read()):  # noqa: ASYNC110  # polling the API is what a client does
            await asyncio.sleep(0.05)
    return value


@pytest.fixture
async def operator(tmp_path: Path, influx_settings: InfluxSettings, mqtt_settings: MqttSettings) -> AsyncIterator[Any]:
    settings = _settings(tmp_path, influx_settings, mqtt_settings, command_expiry_s=2)
    key = create_key(settings, Role.OPERATOR)
    async with serving(settings) as served, httpx.AsyncClient(base_url=served.base_url, headers=auth(key)) as client:
        await _connected(served)
        yield served, client, key


async def test_a_simulated_street_light_applies_the_command_and_it_becomes_acked(
    tmp_path: Path, influx_settings: InfluxSettings, mqtt_settings: MqttSettings
) -> None:
    settings = _settings(tmp_path, influx_settings, mqtt_settings)
    key = create_key(settings, Role.OPERATOR)
    city = api_city()
    light = [d for d in city.devices if d.id == "light-n1"]
    sim = Simulation(SimulatorSettings(mqtt=mqtt_settings, reconnect_min_s=0.2), city, light, RunOptions(seed=1))
    stop = asyncio.Event()
    simulating = asyncio.create_task(sim.run(stop))
    try:
        await sim.wait_connected(timeout_s=15)
        async with serving(settings) as served, httpx.AsyncClient(base_url=served.base_url, headers=auth(key)) as api:
            await _connected(served)
            sent = await api.post(
                "/v1/devices/light-n1/commands", json={"name": "set_dim_level", "args": {"level": 35}}
            )
            assert sent.status_code == 202, sent.text
            assert sent.headers["location"] == f"/v1/commands/{sent.json()['id']}"
            assert (sent.json()["state"], sent.json()["sent_by"]) == ("sent", key_id_of(key))
            acked = await _until(
                lambda: api.get(sent.headers["location"]), lambda r: r.json()["state"] != "sent", timeout_s=10
            )
            body = acked.json()
            assert (body["state"], body["detail"], body["args"]) == ("acked", "", {"level": 35})
            assert body["answered"] is not None
            assert body["device_time"] is not None
            assert sim.broadband[0].core.controls.dim_level == 35
            listed = (await api.get("/v1/devices/light-n1/commands")).json()
            assert [c["id"] for c in listed["items"]] == [body["id"]]
            assert listed["next_cursor"] is None
    finally:
        stop.set()
        await asyncio.wait_for(simulating, 15)


def _sleeping_device(mqtt: MqttSettings, device_id: str, *, first: bool) -> aiomqtt.Client:
    """A device session that persists while the device sleeps (clean start only the first time)."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
    properties.SessionExpiryInterval = 300
    return aiomqtt.Client(
        mqtt.host,
        mqtt.port,
        identifier=f"{mqtt.topic_root}-{device_id}",
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=first,
        properties=properties,
    )


async def _wake_and_read(mqtt: MqttSettings, device_id: str, wait_s: float) -> list[aiomqtt.Message]:
    received: list[aiomqtt.Message] = []
    async with _sleeping_device(mqtt, device_id, first=False) as device:
        try:
            async with asyncio.timeout(wait_s):
                async for message in device.messages:
                    received.append(message)
        except TimeoutError:
            pass
    return received


async def test_a_sleeping_device_gets_the_command_when_it_wakes_and_nothing_after_the_expiry(
    operator: tuple[Served, httpx.AsyncClient, str], mqtt_settings: MqttSettings
) -> None:
    served, api, _key = operator
    topic = f"{mqtt_settings.topic_root}/v1/dev/display-s1/cmd"
    async with _sleeping_device(mqtt_settings, "display-s1", first=True) as device:
        await device.subscribe(topic, qos=1)
    kept = await api.post("/v1/devices/display-s1/commands", json={"name": "show_message", "args": {"text": "hi"}})
    assert kept.status_code == 202, kept.text
    [message] = await _wake_and_read(mqtt_settings, "display-s1", 1.0)  # within the 2 s expiry
    assert message.properties is not None
    assert 1 <= getattr(message.properties, "MessageExpiryInterval", 0) <= 2  # what is left of it
    assert isinstance(message.payload, bytes)
    assert b'"text":"hi"' in message.payload

    lost = await api.post("/v1/devices/display-s1/commands", json={"name": "show_message", "args": {"text": "late"}})
    await asyncio.sleep(3.2)  # Mosquitto counts expiry in whole seconds: a second more than the 2 s
    assert await _wake_and_read(mqtt_settings, "display-s1", 0.5) == []  # the broker dropped it
    for answer in (kept, lost):  # neither was answered: both expired
        state = (await api.get(f"/v1/commands/{answer.json()['id']}")).json()
        assert (state["state"], state["detail"]) == ("expired", "no answer from the device before the command expired")
    assert len((await api.get("/v1/devices/display-s1/commands")).json()["items"]) == 2
    assert served.state.commands.unmatched_acks == 0


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        ({"name": "set_dim_level", "args": {"level": 5}}, 422, "body.name", "rule device-type: set_dim_level is for"),
        ({"name": "show_message", "args": {"text": "x" * 257}}, 422, "body.args.text", "rule argument: args.text"),
        ({"name": "show_message", "args": {}}, 422, "body.args.text", "must be a string of 1 to 256"),
        ({"name": "reboot"}, 422, "body.name", "rule unknown-command: unknown command 'reboot'"),
        ({"name": "show_message", "args": {"text": "a", "txet": "b"}}, 422, "body.args.txet", "takes no argument"),
        ({"name": "show_message", "args": {"text": None}}, 422, "body.args.text", "valid"),
        ({"name": "show_message", "args": {"text": "a"}, "when": 1}, 422, "body.when", "Extra inputs"),
    ],
)
async def test_refused_commands_name_the_rule_and_are_not_sent(
    operator: tuple[Served, httpx.AsyncClient, str], body: dict[str, Any], status: int, param: str, words: str
) -> None:
    _served, api, _key = operator
    answer = await api.post("/v1/devices/display-s1/commands", json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["invalid_params"][0]["name"].startswith(param)  # a union names each type it tried
    assert words in problem["invalid_params"][0]["reason"]
    assert (await api.get("/v1/devices/display-s1/commands")).json()["items"] == []


async def test_who_may_send_and_see_commands(operator: tuple[Served, httpx.AsyncClient, str]) -> None:
    served, api, _key = operator
    settings = served.state.settings
    planner, admin = create_key(settings, Role.PLANNER), create_key(settings, Role.ADMIN)
    south_operator = create_key(settings, Role.OPERATOR, ("south",))
    command = {"name": "set_dim_level", "args": {"level": 50}}
    path = "/v1/devices/light-n1/commands"
    async with httpx.AsyncClient(base_url=served.base_url) as public:
        anonymous = await public.post(path, json=command)
    assert (anonymous.status_code, anonymous.json()["type"]) == (401, "/problems/unauthorized")
    assert (await api.post(path, json=command, headers=auth(planner))).status_code == 403
    assert (await api.get(path, headers=auth(planner))).status_code == 403
    by_admin = await api.post(path, json=command, headers=auth(admin))
    assert by_admin.status_code == 202
    one = f"/v1/commands/{by_admin.json()['id']}"
    for outside in (path, one):  # light-n1 is in the north: as unknown to a south key as a missing id
        assert (await api.get(outside, headers=auth(south_operator))).json()["type"] == "/problems/unknown-id"
    assert (await api.post(path, json=command, headers=auth(south_operator))).status_code == 404
    assert (await api.post("/v1/devices/no-such/commands", json=command)).status_code == 404
    assert (await api.get("/v1/commands/0123456789abcdef")).status_code == 404
    assert (await api.get("/v1/commands/not-an-id")).status_code == 422
    assert (await api.get(one)).json()["sent_by"] == key_id_of(admin)


async def test_pages_of_a_device_s_commands(operator: tuple[Served, httpx.AsyncClient, str]) -> None:
    _served, api, _key = operator
    path = "/v1/devices/light-n1/commands"
    sent = [(await api.post(path, json={"name": "set_dim_level", "args": {"level": n}})).json()["id"] for n in range(3)]
    first = (await api.get(path, params={"limit": 2})).json()
    rest = (await api.get(path, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [c["id"] for c in first["items"] + rest["items"]] == sent[::-1]
    assert rest["next_cursor"] is None
    foreign = await api.get("/v1/devices/display-s1/commands", params={"cursor": first["next_cursor"]})
    assert (foreign.status_code, foreign.json()["invalid_params"][0]["name"]) == (422, "query.cursor")


async def test_an_unreachable_broker_answers_503_records_nothing_and_the_link_comes_back(
    tmp_path: Path,
    influx_settings: InfluxSettings,
    topic_root: str,
    mosquitto_factory: Callable[..., MosquittoProcess],
) -> None:
    broker = mosquitto_factory()
    mqtt = MqttSettings(host="127.0.0.1", port=broker.port, topic_root=topic_root)
    settings = _settings(tmp_path, influx_settings, mqtt, retry_after_s=7)
    key = create_key(settings, Role.OPERATOR)
    command = {"name": "set_dim_level", "args": {"level": 20}}
    path = "/v1/devices/light-n1/commands"
    async with serving(settings) as served, httpx.AsyncClient(base_url=served.base_url, headers=auth(key)) as api:
        link = await _connected(served)
        broker.stop()
        async with asyncio.timeout(10):
            while link.connected.is_set():  # noqa: ASYNC110  # the link has no event for going down
                await asyncio.sleep(0.05)
        refused = await api.post(path, json=command)
        assert (refused.status_code, refused.headers["retry-after"]) == (503, "7")
        assert refused.json()["type"] == "/problems/broker-unavailable"
        assert (await api.get(path)).json()["items"] == []
        broker.start()
        await _connected(served)
        assert (await api.post(path, json=command)).status_code == 202
        assert len((await api.get(path)).json()["items"]) == 1


async def test_without_a_broker_commands_are_off_and_say_so(tmp_path: Path, influx_settings: InfluxSettings) -> None:
    settings = api_settings(tmp_path, influx_settings)
    key = create_key(settings, Role.OPERATOR)
    async with serving(settings) as served, httpx.AsyncClient(base_url=served.base_url, headers=auth(key)) as api:
        answer = await api.post("/v1/devices/light-n1/commands", json={"name": "set_dim_level", "args": {"level": 1}})
        assert (answer.status_code, answer.json()["type"]) == (503, "/problems/commands-disabled")
        assert "retry-after" not in answer.headers
        assert served.state.commands.publisher is None


async def test_the_api_account_of_the_city_credentials_sends_commands_and_reads_acks(
    tmp_path: Path,
    influx_settings: InfluxSettings,
    topic_root: str,
    mosquitto_factory: Callable[..., MosquittoProcess],
) -> None:
    """Against a broker with the password and ACL files the platform ships: the `api` account may publish a
    device's command and read its ack, and the device's own account may read only its command."""
    secret = b"api-commands-test-deployment-secret"
    files = write_credentials(api_city(), secret, tmp_path / "broker", topic_root=topic_root)
    broker = mosquitto_factory(password_file=files.password_file, acl_file=files.acl_file)
    password = SecretStr(service_password(secret, "api"))
    mqtt = MqttSettings(host="127.0.0.1", port=broker.port, topic_root=topic_root, username="api", password=password)
    settings = api_settings(tmp_path, influx_settings, commands=True, mqtt=mqtt)
    key = create_key(settings, Role.OPERATOR)
    light = aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="light-n1",
        password=device_password(secret, "light-n1"),
        protocol=aiomqtt.ProtocolVersion.V5,
    )
    topics = TopicScheme(topic_root)
    async with (
        serving(settings) as served,
        httpx.AsyncClient(base_url=served.base_url, headers=auth(key)) as api,
        light,
    ):
        await _connected(served)
        await light.subscribe(topics.device_filter(TopicKind.COMMAND), qos=1)  # every device's: the ACL filters
        for device in ("display-s1", "light-n1"):
            sent = await api.post(
                f"/v1/devices/{device}/commands", json={"name": "set_report_interval", "args": {"seconds": 9}}
            )
            assert sent.status_code == 202, sent.text
        async with asyncio.timeout(5):
            message = await anext(aiter(light.messages))
        assert str(message.topic) == topics.device("light-n1", TopicKind.COMMAND)  # not the display's command
        assert isinstance(message.payload, bytes)
        command = msgspec.json.decode(message.payload, type=Command)
        ack = CommandAck(id=command.id, status="ok", ts_ms=command.ts_ms)
        await light.publish(topics.device("light-n1", TopicKind.COMMAND_ACK), msgspec.json.encode(ack), qos=1)
        answered = await _until(lambda: api.get(f"/v1/commands/{command.id}"), lambda r: r.json()["state"] != "sent")
        assert answered.json()["state"] == "acked"
