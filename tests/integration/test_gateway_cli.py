"""``smartcity gateway`` as a real process: configured through the environment, finds its HTTP port through
``SPOOL_DIR/http.port``, is ready only when connected to both services, and on SIGTERM drains and exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.cities import write_city
from tests.support.gateway_clients import connect, count_points, eventually, metric, publish_all


async def test_the_gateway_process_ingests_and_stops_cleanly_on_sigterm(
    tmp_path: Path, mqtt_settings: MqttSettings, influx_settings: InfluxSettings
) -> None:
    spool = tmp_path / "spool"
    env = {
        **os.environ,
        "SMARTCITY_GATEWAY_MQTT__HOST": mqtt_settings.host,
        "SMARTCITY_GATEWAY_MQTT__PORT": str(mqtt_settings.port),
        "SMARTCITY_GATEWAY_MQTT__CLIENT_ID": f"gw-{mqtt_settings.topic_root}",
        "SMARTCITY_GATEWAY_MQTT__TOPIC_ROOT": mqtt_settings.topic_root,
        "SMARTCITY_GATEWAY_INFLUX__URL": influx_settings.url,
        "SMARTCITY_GATEWAY_INFLUX__DATABASE": influx_settings.database,
        "SMARTCITY_GATEWAY_CITY_FILE": str(write_city(tmp_path / "city.json")),
        "SMARTCITY_GATEWAY_SPOOL_DIR": str(spool),
        "SMARTCITY_GATEWAY_HTTP_PORT": "0",
        "SMARTCITY_GATEWAY_BATCH_MS": "2000",  # the batch is still open at SIGTERM: shutdown must flush it
    }
    log = (tmp_path / "gateway.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartcity.cli", "gateway", env=env, stdout=log, stderr=subprocess.STDOUT
    )
    publisher, _ = connect(mqtt_settings)
    try:

        async def ready() -> bool:
            assert process.returncode is None, (tmp_path / "gateway.log").read_text()
            if not (spool / "http.port").exists():
                return False
            port = int((spool / "http.port").read_text())
            async with httpx.AsyncClient(trust_env=False) as http:
                return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200

        await eventually(ready, within_s=30, what="/readyz 200")
        port = int((spool / "http.port").read_text())
        start = int(time.time() * 1000) - 60_000
        root = mqtt_settings.topic_root
        readings = [
            (f"{root}/v1/dev/aq-1/reading", json.dumps({"dev": "aq-1", "seq": i, "ts": start + i, "m": {"no2": 1.0}}))
            for i in range(25)
        ]
        publish_all(publisher, [(topic, payload.encode()) for topic, payload in readings])

        async def all_received() -> bool:
            return await metric(port, "messages_received_total", 'kind="reading"') == 25

        await eventually(all_received, what="25 messages received")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
        assert await count_points(influx_settings, "air_quality", "no2") == 25
        output = (tmp_path / "gateway.log").read_text()
        assert "started" in output
        assert "stopped" in output
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()
