"""``smartcity simulate`` as a user runs it: a generated city, two worker processes, SIGTERM ends it cleanly with
every device offline; bad input gets a clear error; credentials and the broker ACL from the city model work."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from devices.mqtt5 import ConnAck
from devices.run_options import RunOptions
from devices.runner import Simulation
from devices.session import MqttSession
from devices.session_options import SessionOptions
from devices.settings import SimulatorSettings
from devices.workers import credentials
from smartcity.city.credentials import HashScheme, ServiceAccount, service_password, write_credentials
from smartcity.city.generate import generate_city
from smartcity.city.load import dump_city
from smartcity.city.model import City, NetworkClass
from smartcity.contract.messages import Status
from smartcity.localservices import MosquittoProcess, free_port
from smartcity.quality_truth import FaultKind, read_truth
from smartcity.settings import MqttSettings
from tests.support.devices import Collector

SMARTCITY = Path(sys.executable).parent / "smartcity"


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(devices=24, seed=5)


@pytest.fixture
def city_file(city: City, tmp_path: Path) -> Path:
    path = tmp_path / "city.json"
    path.write_bytes(dump_city(city))
    return path


def _env(mqtt: MqttSettings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    env.update(
        SMARTCITY_SIM_MQTT__HOST=mqtt.host,
        SMARTCITY_SIM_MQTT__PORT=str(mqtt.port),
        SMARTCITY_SIM_MQTT__TOPIC_ROOT=mqtt.topic_root,
        **extra,
    )
    return env


async def test_two_workers_then_sigterm_leaves_every_device_offline(
    city: City, city_file: Path, mqtt_settings: MqttSettings, topic_root: str
) -> None:
    live = await Collector().start(
        mqtt_settings, [f"{topic_root}/v1/dev/+/reading", f"{topic_root}/v1/dev/+/senml-cbor"]
    )
    process = await asyncio.create_subprocess_exec(
        str(SMARTCITY), "simulate", "--city", str(city_file), "--speed", "600", "--workers", "2", "--json",
        env=_env(mqtt_settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    await live.wait_for(lambda: len(live.messages) >= 10, timeout_s=30)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    summary = json.loads(stdout)
    assert summary["counters"]["readings"] > 0
    assert summary["devices_run"] == len(city.devices)
    assert summary["counters"].get("errors", 0) == 0, summary["errors"]
    await live.stop()
    statuses = await Collector().start(mqtt_settings, [f"{topic_root}/v1/dev/+/status"], "statuses")
    await statuses.wait_for(lambda: len(statuses.messages) == len(city.devices))
    for device in city.devices:
        [(raw, retained)] = statuses.messages[f"{topic_root}/v1/dev/{device.id}/status"]
        status = msgspec.json.decode(raw, type=Status)
        assert retained, device.id
        assert (status.state, status.reason) == ("offline", "shutdown"), device.id
    await statuses.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--district", "atlantis"], "unknown district(s) atlantis"),
        (["--fault", "meltdown=0.5"], "unknown fault 'meltdown'"),
        (["--duration", "soon"], "'soon' is not a duration"),
        (["--devices", "0"], "--devices must be at least 1"),
        (["--faults", "wild"], "unknown --faults preset 'wild'"),
        (["--fault-rate", "drift=0.5"], "rate of drift must be from 0 to 0.142857 per device-day"),
        (["--truth", "truth.jsonl"], "--truth needs fault episodes"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    city_file: Path, mqtt_settings: MqttSettings, args: list[str], message: str
) -> None:
    result = subprocess.run(
        [str(SMARTCITY), "simulate", "--city", str(city_file), *args], env=_env(mqtt_settings),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr


def test_two_workers_write_one_truth_log_of_the_backfilled_day(
    city: City, city_file: Path, mqtt_settings: MqttSettings, tmp_path: Path
) -> None:
    truth = tmp_path / "truth" / "faults.jsonl"
    truth.parent.mkdir()
    truth.write_text("left over from an earlier run\n")
    result = subprocess.run(
        [str(SMARTCITY), "simulate", "--city", str(city_file), "--workers", "2", "--json", "--backfill", "1d",
         "--backfill-rate", "4000", "--duration", "6s", "--faults", "realistic", "--fault-rate", "offline=1",
         "--fault-rate", "spike=1", "--truth", str(truth)],
        env=_env(mqtt_settings), capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = read_truth(truth)  # the left-over line is gone: a new log per run
    assert {FaultKind.OFFLINE, FaultKind.SPIKE} <= {record.kind for record in records}
    broadband = {d.id for d in city.devices if d.network is NetworkClass.BROADBAND}
    devices = {record.device for record in records}
    assert devices & broadband
    assert devices - broadband  # narrowband ones too
    for share in (city.devices[0::2], city.devices[1::2]):  # how the two workers split the devices
        assert devices & {d.id for d in share}


def test_missing_city_file_is_named(tmp_path: Path, mqtt_settings: MqttSettings) -> None:
    result = subprocess.run(
        [str(SMARTCITY), "simulate", "--city", str(tmp_path / "nope.json")], env=_env(mqtt_settings),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "nope.json does not exist" in result.stderr


async def test_devices_and_network_server_work_under_the_city_acl(
    city: City, mosquitto_factory: Callable[..., MosquittoProcess], tmp_path: Path, topic_root: str
) -> None:
    secret = b"0123456789abcdef-test-secret"
    files = write_credentials(city, secret, tmp_path / "creds", topic_root=topic_root, scheme=HashScheme.SHA512)
    broker = mosquitto_factory(password_file=files.password_file, acl_file=files.acl_file)
    mqtt = MqttSettings(host="::1", port=broker.port, topic_root=topic_root)
    gateway = MqttSettings(
        host="::1", port=broker.port, topic_root=topic_root, username=ServiceAccount.GATEWAY,
        password=service_password(secret, ServiceAccount.GATEWAY),
    )  # fmt: skip
    live = Collector()
    live.session, _ = await _gateway_session(gateway, live)
    settings = SimulatorSettings(mqtt=mqtt, device_secret=secret.decode())
    password_for, netserver_password = credentials(settings)
    sim = Simulation(settings, city, city.devices, RunOptions(seed=1, speed=600),
                     password_for=password_for, netserver_password=netserver_password)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    await sim.wait_connected(timeout_s=20)
    senders = {d.id for d in city.devices}
    await live.wait_for(lambda: {t.split("/")[3] for t in live.messages} >= senders, timeout_s=30)
    stop.set()
    summary = await task
    assert (summary.counters.publish_refused, summary.counters.errors) == (0, 0), summary.errors
    assert any(d.network is NetworkClass.NARROWBAND for d in city.devices)
    await live.stop()


async def _gateway_session(mqtt: MqttSettings, collector: Collector) -> tuple[MqttSession, ConnAck]:
    password = mqtt.password.get_secret_value() if mqtt.password else None
    session, connack = await MqttSession.open(
        SessionOptions(mqtt.host, mqtt.port, "gateway-test", username=mqtt.username, password=password),
        on_message=collector._on_message,
    )
    root = mqtt.topic_root
    codes = await session.subscribe([(f"{root}/v1/dev/+/reading", 1), (f"{root}/v1/dev/+/senml-cbor", 1)])
    assert codes == [1, 1]
    return session, connack


def test_unreachable_broker_ends_at_the_deadline_with_exit_1(city_file: Path, topic_root: str) -> None:
    nobody = MqttSettings(host="::1", port=free_port(), topic_root=topic_root)  # nothing listens there
    result = subprocess.run(
        [str(SMARTCITY), "simulate", "--city", str(city_file), "--duration", "2s", "--json"], env=_env(nobody),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["counters"]["connect_failed"] > 0
    assert "connect failed" in summary["errors"][-1]
