"""The private servers the fixtures start: reachable on both loopback families, persistent where asked, really
killed by kill(), and loud when they cannot start."""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from smartcity.contract.limits import BROKER_MAX_PACKET_SIZE
from smartcity.localservices import InfluxdProcess, MosquittoProcess, ServiceError, free_port
from smartcity.localservices.influxd import rewrite_config
from smartcity.localservices.process import tcp_accepts

MosquittoFactory = Callable[..., MosquittoProcess]
InfluxdFactory = Callable[..., InfluxdProcess]


class _Mqtt:
    """A small synchronous MQTT 5 client for these tests: connect, then read messages from a queue."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.reason: ReasonCode | None = None
        self.connack: Properties | None = None
        client.on_connect = self._on_connect
        client.on_message = lambda _c, _u, message: self.messages.put(message)

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, properties: Properties | None
    ) -> None:
        self.reason = reason
        self.connack = properties
        self.connected.set()

    def subscribe(self, topic: str, qos: int = 1) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_args: done.set()
        self.client.subscribe(topic, qos=qos)
        assert done.wait(5), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(timeout=5)

    def next_payload(self, timeout_s: float = 5.0) -> bytes | None:
        try:
            return bytes(self.messages.get(timeout=timeout_s).payload)
        except queue.Empty:
            return None


@contextlib.contextmanager
def mqtt_session(
    host: str,
    port: int,
    *,
    client_id: str = "",
    clean_start: bool = True,
    session_expiry_s: int = 0,
    username: str | None = None,
    password: str | None = None,
    expect_success: bool = True,
) -> Iterator[_Mqtt]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    session = _Mqtt(client)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
    properties.SessionExpiryInterval = session_expiry_s
    client.connect(host, port, clean_start=clean_start, properties=properties)
    client.loop_start()
    try:
        assert session.connected.wait(5), f"no CONNACK from {host}:{port}"
        assert session.reason is not None
        if expect_success:
            assert not session.reason.is_failure, f"connection refused: {session.reason}"
        yield session
    finally:
        client.disconnect()
        client.loop_stop()


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- mosquitto ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sub_host", "pub_host"), [("::1", "127.0.0.1"), ("127.0.0.1", "::1")])
def test_broker_is_reachable_over_ipv4_and_ipv6(
    mosquitto: MosquittoProcess, topic_root: str, sub_host: str, pub_host: str
) -> None:
    topic = f"{topic_root}/reachability"
    with mqtt_session(sub_host, mosquitto.port) as subscriber, mqtt_session(pub_host, mosquitto.port) as publisher:
        subscriber.subscribe(topic)
        publisher.publish(topic, b"hello")
        assert subscriber.next_payload() == b"hello"


@pytest.mark.parametrize("persistence", [True, False])
def test_queued_qos1_message_survives_restart_only_with_persistence(
    mosquitto_factory: MosquittoFactory, topic_root: str, persistence: bool
) -> None:
    broker = mosquitto_factory(persistence=persistence)
    topic, client_id = f"{topic_root}/durable", f"sub-{uuid.uuid4().hex[:8]}"
    with mqtt_session("::1", broker.port, client_id=client_id, clean_start=False, session_expiry_s=3600) as sub:
        sub.subscribe(topic, qos=1)
    with mqtt_session("127.0.0.1", broker.port) as publisher:
        publisher.publish(topic, b"queued while offline", qos=1)

    port = broker.port
    broker.restart()
    assert broker.port == port

    with mqtt_session("::1", broker.port, client_id=client_id, clean_start=False, session_expiry_s=3600) as sub:
        # Without persistence the broker forgets the session, so nothing arrives: waiting 2 s is enough to see
        # it, because with persistence the message arrives right after CONNACK.
        received = sub.next_payload(timeout_s=5.0 if persistence else 2.0)
    assert received == (b"queued while offline" if persistence else None)


@pytest.mark.parametrize("saved", [True, False])
def test_a_sigkill_keeps_only_what_the_last_snapshot_holds(
    mosquitto_factory: MosquittoFactory, topic_root: str, saved: bool
) -> None:
    broker = mosquitto_factory(persistence=True, autosave_interval_s=0)  # saves only on save() and a clean stop
    topic, client_id = f"{topic_root}/snapshot", f"sub-{uuid.uuid4().hex[:8]}"
    with mqtt_session("::1", broker.port, client_id=client_id, clean_start=False, session_expiry_s=3600) as sub:
        sub.subscribe(topic, qos=1)
    broker.save()  # the session and its subscription are on disk
    with mqtt_session("127.0.0.1", broker.port) as publisher:
        publisher.publish(topic, b"acknowledged, then queued", qos=1)  # PUBACKed: in memory only ...
    if saved:
        broker.save()  # ... unless a snapshot follows before the crash

    broker.kill()
    broker.start()

    with mqtt_session("::1", broker.port, client_id=client_id, clean_start=False, session_expiry_s=3600) as sub:
        received = sub.next_payload(timeout_s=5.0 if saved else 2.0)
    assert received == (b"acknowledged, then queued" if saved else None)


def test_save_needs_a_running_persistent_broker(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="without persistence"):
        mosquitto.save()
    with pytest.raises(ServiceError, match="not running"):
        MosquittoProcess(tmp_path, persistence=True).save()
    with pytest.raises(ValueError, match="autosave_interval_s must be >= 0"):
        MosquittoProcess(tmp_path, autosave_interval_s=-1)


def test_sys_topics_are_updated_every_second(mosquitto_factory: MosquittoFactory) -> None:
    # A fresh broker: Mosquitto publishes a $SYS value only when it changes, retained with a 60 s expiry, so on a
    # broker that has run for minutes without dropping anything the drop counter is no longer there to read.
    broker = mosquitto_factory()
    with mqtt_session("::1", broker.port) as client:
        client.subscribe("$SYS/broker/publish/messages/dropped", qos=0)
        dropped = client.next_payload(timeout_s=10)
        client.subscribe("$SYS/broker/uptime", qos=0)
        uptimes = [client.next_payload(timeout_s=10) for _ in range(2)]
    assert dropped is not None
    assert dropped.isdigit()
    assert None not in uptimes
    assert uptimes[0] != uptimes[1]


def test_password_file_refuses_anonymous_and_admits_accounts(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    password_file = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(password_file), "gateway", "s3cret"], check=True)
    password_file.chmod(0o600)
    broker = mosquitto_factory(password_file=password_file)

    with mqtt_session("::1", broker.port, expect_success=False) as anonymous:
        assert anonymous.reason is not None
        assert anonymous.reason.is_failure
    with mqtt_session("::1", broker.port, username="gateway", password="s3cret") as account:
        assert account.reason is not None
        assert not account.reason.is_failure


def test_mosquitto_kill_really_kills(mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory()
    pid = broker.pid
    assert _pid_exists(pid)
    broker.kill()
    assert not broker.running
    assert not _pid_exists(pid)
    assert not tcp_accepts("127.0.0.1", broker.port)
    assert not tcp_accepts("::1", broker.port)


def test_bad_config_fails_fast_with_the_log_tail(tmp_path: Path) -> None:
    broker = MosquittoProcess(tmp_path, extra_conf="no_such_option 1")
    with pytest.raises(ServiceError, match="no_such_option") as excinfo:
        broker.start()
    assert "exited with code" in str(excinfo.value)
    assert not broker.running


def test_taken_port_is_reported(mosquitto: MosquittoProcess, tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"(?i)address already in use"):
        MosquittoProcess(tmp_path, port=mosquitto.port).start()


def test_free_port_binds_on_both_loopback_families() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET) as v4, socket.socket(socket.AF_INET6) as v6:
        v4.bind(("127.0.0.1", port))
        v6.bind(("::1", port))


# -- influxd -----------------------------------------------------------------------------------------------------
def _query(url: str, q: str, db: str = "") -> httpx.Response:
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
        return client.post("/query", data={"q": q, "db": db})


def _write(url: str, db: str, body: bytes) -> None:
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
        response = client.post("/write", params={"db": db, "precision": "ms"}, content=body)
    assert response.status_code == 204, response.text


def _count(url: str, db: str) -> object:
    response = _query(url, 'SELECT count("v") FROM "m"', db)
    series = response.json()["results"][0].get("series", [])
    return series[0]["values"][0][1] if series else 0


@pytest.mark.parametrize("how", ["restart", "kill-then-start"])
def test_influxd_data_survives(influxd_factory: InfluxdFactory, how: str) -> None:
    server = influxd_factory()
    url, port = server.url, server.port
    assert _query(url, 'CREATE DATABASE "keep"').status_code == 200
    _write(url, "keep", b"m,k=a v=1 1700000000000\nm,k=b v=2 1700000000001\n")

    if how == "restart":
        server.restart()
    else:
        server.kill()  # acknowledged writes are in the fsynced WAL: SIGKILL must not lose them
        server.start()

    assert server.port == port
    assert _count(server.url, "keep") == 2


def test_influxd_kill_really_kills(influxd_factory: InfluxdFactory) -> None:
    server = influxd_factory()
    pid = server.pid
    server.kill()
    assert not server.running
    assert not _pid_exists(pid)
    assert not tcp_accepts("127.0.0.1", server.port)


def test_influxd_config_is_private(influxd: InfluxdProcess) -> None:
    config = influxd.config_path.read_text()
    workdir = str(influxd.workdir)
    for line in config.splitlines():
        key, _, value = line.strip().partition(" = ")
        if key in {"dir", "wal-dir"}:
            assert value.strip('"').startswith(workdir), line
    assert f'bind-address = "127.0.0.1:{influxd.port}"' in config
    assert "reporting-enabled = false" in config or "reporting-disabled = true" in config
    assert "store-enabled = false" in config


def test_rewrite_config_sets_adds_and_refuses() -> None:
    default = 'top = 1\n[http]\n  bind-address = ":8086"\n[[udp]]\n  enabled = false\n'
    rewritten = rewrite_config(default, {("http", "bind-address"): "127.0.0.1:1", ("udp", "extra"): True})
    assert rewritten == 'top = 1\n[http]\n  bind-address = "127.0.0.1:1"\n[[udp]]\n  enabled = false\n  extra = true\n'
    with pytest.raises(ServiceError, match=r"\[nowhere\] key"):
        rewrite_config(default, {("nowhere", "key"): 1})


def test_start_time_is_bounded(tmp_path: Path) -> None:
    # A "server" that never becomes ready: the wait must end with a clear error, and the process must be gone.
    script = tmp_path / "sleeper"
    script.write_text("#!/bin/sh\necho sleeping instead of serving\nexec sleep 60\n")
    script.chmod(0o755)
    server = MosquittoProcess(tmp_path / "m", binary=script, ready_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ServiceError, match="not ready after 1 s") as excinfo:
        server.start()
    assert time.monotonic() - started < 10
    assert "sleeping instead of serving" in str(excinfo.value)
    assert not _pid_exists(server.pid)


def test_influxd_on_a_taken_port_is_reported(influxd: InfluxdProcess, tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"(?i)address already in use"):
        InfluxdProcess(tmp_path, port=influxd.port).start()


def test_the_machines_broker_port_is_out_of_reach() -> None:
    # conftest's audit hook refuses the connection before it is made; MqttSettings() defaults to that port.
    with socket.socket(socket.AF_INET) as sock, pytest.raises(RuntimeError, match="must not connect to port 1883"):
        sock.connect(("127.0.0.1", 1883))


def test_mosquitto_config_has_the_no_loss_settings(tmp_path: Path) -> None:
    broker = MosquittoProcess(tmp_path, port=12345, persistence=True, password_file=tmp_path / "pw")
    lines = broker.render_config().splitlines()
    for expected in (
        "listener 12345 127.0.0.1",
        "listener 12345 ::1",
        "allow_anonymous false",
        f"password_file {tmp_path / 'pw'}",
        "max_queued_messages 0",
        "set_tcp_nodelay true",
        "sys_interval 1",
        "persistence true",
        f"persistence_location {tmp_path / 'persistence'}/",
        "autosave_on_changes false",
        "autosave_interval 1",
        f"max_packet_size {BROKER_MAX_PACKET_SIZE}",
    ):
        assert expected in lines
    assert not any(line.startswith("message_size_limit") for line in lines)  # it acks what it drops
    with pytest.raises(ServiceError, match="start"):
        _ = MosquittoProcess(tmp_path).port


def test_mosquitto_packet_size_limit_can_be_chosen_or_left_unset(tmp_path: Path) -> None:
    assert "max_packet_size 4096" in MosquittoProcess(tmp_path, port=1, max_packet_size=4096).render_config()
    unset = MosquittoProcess(tmp_path, port=1, max_packet_size=None).render_config()
    assert "max_packet_size" not in unset
    for bad in (0, 19, 268_435_461):  # Mosquitto refuses 0 and anything below 20 at start
        with pytest.raises(ValueError, match="max_packet_size must be None or 20"):
            MosquittoProcess(tmp_path, max_packet_size=bad)


def test_a_port_taken_in_the_meantime_is_replaced(
    mosquitto: MosquittoProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = iter([mosquitto.port, free_port()])  # the first "free" port is already the session broker's
    monkeypatch.setattr("smartcity.localservices.mosquitto.free_port", lambda: next(ports))
    with MosquittoProcess(tmp_path) as broker:
        assert broker.port != mosquitto.port
        assert broker.running


def test_extra_conf_overrides_generated_settings(mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory(extra_conf="max_inflight_messages 7")
    with mqtt_session("::1", broker.port) as session:
        # The broker announces its inbound window in CONNACK: 7 from extra_conf instead of "no maximum".
        assert getattr(session.connack, "ReceiveMaximum", None) == 7
