"""Three gateway replicas in one ``$share`` group on a real Mosquitto and influxd, fed by the load generator; one
replica is SIGKILLed mid-stream and restarted with its client id. Conservation holds: every reading the broker
acknowledged to a device is stored or dead-lettered (none are here), nothing is lost, and what the killed replica
had in flight comes back to it (its persistent session) and lands on the same points (idempotent rewrites)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from devices.loadgen import run_load
from devices.settings import SimulatorSettings
from smartcity.localservices.gateway import GatewayProcess
from smartcity.localservices.load import bench_city
from smartcity.settings import MqttSettings
from tests.e2e.gateway_rig import Rig

pytestmark = pytest.mark.slow

DEVICES = 40
RATE = 1_500.0
DURATION_S = 6.0
"""About 9,000 readings: the 200,000-reading run is bench/replicas_bench.py's."""
_OWN = ("SMARTCITY_GATEWAY_SPOOL_DIR", "SMARTCITY_GATEWAY_HTTP_PORT")


def replica(rig: Rig, workdir: Path, name: str, city_file: Path) -> GatewayProcess:
    """A member of the ``ingest`` group with a stable client id of its own (its persistent session)."""
    env = {key: value for key, value in rig.gateway.env.items() if key not in _OWN}
    env |= {
        "SMARTCITY_GATEWAY_MQTT__CLIENT_ID": f"{env['SMARTCITY_GATEWAY_MQTT__CLIENT_ID']}-{name}",
        "SMARTCITY_GATEWAY_SHARED_GROUP": "ingest",
        "SMARTCITY_GATEWAY_CITY_FILE": str(city_file),
        "SMARTCITY_GATEWAY_BATCH_MS": "100",
    }
    return GatewayProcess(workdir / name, env)


def test_three_replicas_one_killed_and_restarted_lose_nothing(rig: Rig, tmp_path: Path) -> None:
    city = bench_city(DEVICES)
    city_file = tmp_path / "load-city.json"
    city_file.write_text(city.model_dump_json())
    replicas = [replica(rig, tmp_path, name, city_file) for name in ("a", "b", "c")]
    victim = replicas[1]
    events: list[str] = []
    killed_after: list[float] = []

    def kill_and_restart() -> None:
        killed_after.append(victim.metrics().get("messages_received_total{kind=reading}", 0.0))
        victim.kill()
        events.append("killed")
        time.sleep(1.0)
        victim.start()
        events.append("restarted")

    try:
        for gateway in replicas:
            gateway.start()
        fault = threading.Timer(DURATION_S / 3, kill_and_restart)
        fault.start()
        mqtt = MqttSettings(host="127.0.0.1", port=rig.broker.port, topic_root=rig.scheme.root)
        summary = run_load(
            mqtt,
            devices=DEVICES,
            rate=RATE,
            duration_s=DURATION_S,
            city=city,
            settings=SimulatorSettings(reconnect_min_s=0.2),
        )
        fault.join()
        assert summary.counters.acked == summary.counters.messages_sent, summary.counters  # every PUBACK came
        published = sum(entry.sent for entry in summary.devices.values())  # readings (births, statuses aside)
        assert published == summary.counters.readings
        assert published >= RATE * DURATION_S * 0.7
        stored = rig.wait_stored(published, timeout_s=60)
        dead = len(rig.dead_letters.wait_for(0, timeout_s=0.5))
        logs = "".join(gateway.log_tail(30) for gateway in replicas)
        assert (stored + dead, dead) == (published, 0), logs  # conservation, and loss 0
        assert events == ["killed", "restarted"]
        assert killed_after[0] > 0  # it was taking its share when it died
        times = {device.id: rig.probe.times("air_quality", "no2", "device", device.id) for device in city.devices}
        for device, entry in summary.devices.items():
            assert len(times[device]) == len(set(times[device])) == entry.sent, device  # once per reading
        for gateway in replicas:  # every member took part, the restarted one after its restart too
            assert gateway.metrics()["messages_received_total{kind=reading}"] > 0, gateway.log_tail(20)
    finally:
        for gateway in replicas:
            gateway.stop()
