"""TLS with certificates the test makes (a private CA, server certificates for the broker and the API, client
certificates): devices, the gateway and the API's broker link reach a Mosquitto MQTT-over-TLS listener that
requires a client certificate, and readings land in InfluxDB; a client with a certificate from another CA, or with
none, is refused, and so is a broker the client's CA did not sign; the API serves HTTPS (and refuses plain HTTP)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from devices.mqtt5.encode import encode_topic
from devices.session import MqttSession
from devices.session_errors import SessionClosed
from devices.session_options import SessionOptions
from services.api.broker import BrokerLink
from smartcity.localservices import MosquittoProcess
from smartcity.localservices.process import free_port
from smartcity.mqtt_tls import TlsConfigError, client_context
from smartcity.settings import InfluxSettings, MqttSettings
from tests.integration.test_gateway_service import _settings as gateway_settings
from tests.integration.test_gateway_service import gateway
from tests.support.api_replicas import ApiReplica
from tests.support.api_support import write_api_city
from tests.support.gateway_clients import count_points, eventually
from tests.support.tls_certs import Authority, Issued, tls_listener

_START_MS = int(time.time() * 1000) - 3_600_000


@dataclass(frozen=True)
class Pki:
    ca: Authority
    broker: Issued
    api: Issued
    device: Issued
    gateway: Issued
    other_ca: Authority
    intruder: Issued
    """A client certificate from ``other_ca``, which the broker does not trust."""


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca, other = Authority.create(tmp_path / "pki", "city"), Authority.create(tmp_path / "pki", "elsewhere")
    return Pki(
        ca,
        ca.issue("broker", server=True),
        ca.issue("api", server=True),
        ca.issue("aq-1", server=False),
        ca.issue("gateway", server=False),
        other,
        other.issue("aq-1", server=False),
    )


@pytest.fixture
def tls_broker(pki: Pki, mosquitto_factory: Callable[..., MosquittoProcess]) -> tuple[MosquittoProcess, int]:
    port = free_port()
    return mosquitto_factory(extra_conf=tls_listener(port, pki.ca, pki.broker)), port


def _mqtt(port: int, topic_root: str, ca: Path, client: Issued | None, host: str = "127.0.0.1") -> MqttSettings:
    return MqttSettings(
        host=host,
        port=port,
        topic_root=topic_root,
        ca_file=ca,
        cert_file=client.cert if client else None,
        key_file=client.key if client else None,
    )


async def _device(settings: MqttSettings, client_id: str = "aq-1") -> tuple[MqttSession, list[int]]:
    acks: list[int] = []
    options = SessionOptions(
        host=settings.host,
        port=settings.port,
        client_id=client_id,
        ssl=client_context(settings),
        connect_timeout_s=5,
    )
    session, _ = await MqttSession.open(options, on_ack=lambda packet_id, reason: acks.append(reason))
    return session, acks


async def test_devices_and_the_gateway_connect_with_tls_and_readings_land(
    tmp_path: Path,
    pki: Pki,
    tls_broker: tuple[MosquittoProcess, int],
    topic_root: str,
    influx_settings: InfluxSettings,
) -> None:
    _, port = tls_broker
    settings = gateway_settings(tmp_path, _mqtt(port, topic_root, pki.ca.cert_file, pki.gateway), influx_settings)
    async with gateway(settings):
        session, acks = await _device(_mqtt(port, topic_root, pki.ca.cert_file, pki.device, host="::1"))
        try:
            for seq in range(20):
                body = {"dev": "aq-1", "seq": seq, "ts": _START_MS + seq, "m": {"no2": 12.5}}
                session.publish(encode_topic(f"{topic_root}/v1/dev/aq-1/reading"), json.dumps(body).encode())

            async def landed() -> bool:
                return await count_points(influx_settings, "air_quality", "no2") == 20

            await eventually(landed, what="20 readings over TLS in InfluxDB")
            assert acks == [0] * 20
        finally:
            await session.disconnect()


async def test_the_api_broker_link_connects_with_tls(pki: Pki, tls_broker: tuple[MosquittoProcess, int]) -> None:
    _, port = tls_broker
    link = BrokerLink(
        _mqtt(port, "tls", pki.ca.cert_file, pki.gateway).model_copy(update={"client_id": "api-tls"}),
        ack_filter="tls/v1/dev/+/cmd-ack",
        on_ack=lambda topic, payload: None,
        session_expiry_s=60,
        publish_timeout_s=5,
    )
    running = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        await link.publish("tls/v1/dev/aq-1/cmd", b"{}", expiry_s=5)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_a_client_from_another_ca_or_without_a_certificate_is_refused(
    pki: Pki, tls_broker: tuple[MosquittoProcess, int], topic_root: str
) -> None:
    broker, port = tls_broker
    for client in (pki.intruder, None):
        with pytest.raises(SessionClosed, match="connection closed before CONNACK"):
            await _device(_mqtt(port, topic_root, pki.ca.cert_file, client))
    assert broker.running
    refusals = broker.log_since_start()
    assert "certificate verify failed" in refusals  # the other CA's certificate
    assert "peer did not return a certificate" in refusals  # none at all
    # The other way round: a client that trusts only the other CA refuses the city's broker.
    with pytest.raises(ssl.SSLCertVerificationError):
        await _device(_mqtt(port, topic_root, pki.other_ca.cert_file, pki.intruder))
    # A broker certificate for other names: the client checks the name it connected to.
    wrong = pki.ca.issue("elsewhere", server=True, names=("broker.example",))
    elsewhere = free_port()
    other = MosquittoProcess(broker.workdir.parent / "wrong-name", extra_conf=tls_listener(elsewhere, pki.ca, wrong))
    with other, pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        await _device(_mqtt(elsewhere, topic_root, pki.ca.cert_file, pki.device))


def test_bad_tls_settings_are_refused_before_anything_connects(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(ValidationError, match="cert_file and key_file go together"):
        MqttSettings(ca_file=pki.ca.cert_file, cert_file=pki.device.cert)
    with pytest.raises(ValidationError, match="TLS is off"):
        MqttSettings(cert_file=pki.device.cert, key_file=pki.device.key)
    with pytest.raises(ValidationError, match="ca_file"):
        MqttSettings(ca_file=tmp_path / "missing.pem")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(TlsConfigError, match=r"MQTT__CA_FILE .*not a PEM CA certificate"):
        client_context(MqttSettings(ca_file=not_pem))
    with pytest.raises(TlsConfigError, match="not a matching PEM certificate and key"):
        client_context(MqttSettings(ca_file=pki.ca.cert_file, cert_file=pki.device.cert, key_file=pki.gateway.key))


def test_the_api_serves_https_with_its_certificate(tmp_path: Path, pki: Pki, influx_settings: InfluxSettings) -> None:
    env = {
        "SMARTCITY_API_CITY_FILE": str(write_api_city(tmp_path / "city.json")),
        "SMARTCITY_API_STATE_FILE": str(tmp_path / "state.sqlite"),
        "SMARTCITY_API_INFLUX__URL": influx_settings.url,
        "SMARTCITY_API_INFLUX__DATABASE": influx_settings.database,
        "SMARTCITY_API_TLS_CERT_FILE": str(pki.api.cert),
        "SMARTCITY_API_TLS_KEY_FILE": str(pki.api.key),
    }
    with ApiReplica(tmp_path / "api", env, ca_file=pki.ca.cert_file) as api:
        assert api.url.startswith("https://127.0.0.1:")
        answer = httpx.get(f"{api.url}/healthz", verify=api.verify, trust_env=False)
        assert answer.status_code == 200
        assert answer.http_version == "HTTP/1.1"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{api.url}/healthz", trust_env=False)  # the system's CAs do not know the city's
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{api.port}/healthz", trust_env=False)  # plain HTTP on the HTTPS port


def test_the_api_with_a_client_ca_refuses_clients_without_its_certificate(
    tmp_path: Path, pki: Pki, influx_settings: InfluxSettings
) -> None:
    env = {
        "SMARTCITY_API_CITY_FILE": str(write_api_city(tmp_path / "city.json")),
        "SMARTCITY_API_STATE_FILE": str(tmp_path / "state.sqlite"),
        "SMARTCITY_API_INFLUX__URL": influx_settings.url,
        "SMARTCITY_API_INFLUX__DATABASE": influx_settings.database,
        "SMARTCITY_API_TLS_CERT_FILE": str(pki.api.cert),
        "SMARTCITY_API_TLS_KEY_FILE": str(pki.api.key),
        "SMARTCITY_API_TLS_CLIENT_CA_FILE": str(pki.ca.cert_file),
    }
    member = ssl.create_default_context(cafile=pki.ca.cert_file)
    member.load_cert_chain(pki.gateway.cert, pki.gateway.key)
    replica = ApiReplica(tmp_path / "api", env, ca_file=pki.ca.cert_file)
    replica.verify = member  # the readiness probe presents the city's client certificate too
    with replica as api:
        assert httpx.get(f"{api.url}/healthz", verify=member, trust_env=False).status_code == 200
        outsider = ssl.create_default_context(cafile=pki.ca.cert_file)
        outsider.load_cert_chain(pki.intruder.cert, pki.intruder.key)
        for context in (ssl.create_default_context(cafile=pki.ca.cert_file), outsider):
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"{api.url}/healthz", verify=context, trust_env=False)
