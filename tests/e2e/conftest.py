"""Fixtures of the gateway's end-to-end fault tests: a persistent broker, an influxd of the test's own (so it can be
killed or frozen), a small city and the gateway as a subprocess (see :mod:`tests.e2e.gateway_rig`)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from smartcity.contract.topics import TopicScheme
from smartcity.localservices import InfluxdProcess, MosquittoProcess
from smartcity.localservices.gateway import GatewayProcess
from smartcity.localservices.load import bench_city, device_id
from smartcity.localservices.probes import InfluxProbe
from tests.e2e.gateway_rig import DEVICES, DeadLetterCollector, ExactPublisher, Ledger, Rig


@pytest.fixture
def rig(
    tmp_path: Path,
    topic_root: str,
    mosquitto_factory: Callable[..., MosquittoProcess],
    influxd_factory: Callable[..., InfluxdProcess],
) -> Iterator[Rig]:
    """Persistent broker, own influxd and database, city of 8 air-quality sensors, gateway (not started yet:
    each test starts it, with ``BATCH_MS`` 200 so that messages are in flight when a fault strikes)."""
    broker = mosquitto_factory(persistence=True)
    influxd = influxd_factory()
    probe = InfluxProbe(influxd.url, f"faults_{uuid.uuid4().hex[:8]}")
    city_file = tmp_path / "city.json"
    city_file.write_text(bench_city(DEVICES).model_dump_json())
    scheme = TopicScheme(topic_root)
    env = {
        "SMARTCITY_GATEWAY_MQTT__HOST": "127.0.0.1",
        "SMARTCITY_GATEWAY_MQTT__PORT": str(broker.port),
        "SMARTCITY_GATEWAY_MQTT__CLIENT_ID": f"gateway-{topic_root}",
        "SMARTCITY_GATEWAY_MQTT__TOPIC_ROOT": topic_root,
        "SMARTCITY_GATEWAY_INFLUX__URL": influxd.url,
        "SMARTCITY_GATEWAY_INFLUX__DATABASE": probe.database,
        "SMARTCITY_GATEWAY_CITY_FILE": str(city_file),
        "SMARTCITY_GATEWAY_BATCH_MS": "200",
        "SMARTCITY_GATEWAY_WRITE_RETRY_S": "1",
    }
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(probe.close)
        probe.create_database()
        gateway = GatewayProcess(tmp_path / "gateway", env)
        cleanup.callback(gateway.stop)
        dead_letters = DeadLetterCollector(broker, scheme, f"dl-{topic_root}")
        cleanup.callback(dead_letters.close)
        publisher = ExactPublisher(broker, f"pub-{topic_root}")
        cleanup.callback(publisher.close)
        ledger = Ledger(base_ms=int(time.time() * 1000) - 600_000)
        devices = [device_id(i) for i in range(DEVICES)]
        yield Rig(broker, influxd, scheme, probe, gateway, devices, publisher, dead_letters, ledger)
