"""``run(settings, stop=)`` of the roll-up process against the real influxd: it creates the tiers' retention
policies, serves /metrics, /healthz and /readyz, rolls up the closed hours, and stops cleanly when told."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from services.rollup.service import run
from services.rollup.settings import RollupSettings
from smartcity.influx.client import InfluxClient
from smartcity.rollups import HOUR, read_progress
from smartcity.settings import InfluxSettings
from tests.support.rollup_support import lines_of, pm25_points, readings, write_city


async def test_the_process_rolls_up_serves_its_metrics_and_stops(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    now_ms = int(time.time() * 1000)
    hour_start = now_ms // 3_600_000 * 3_600_000 - 3 * 3_600_000
    settings = RollupSettings(
        influx=influx_settings,
        city_file=write_city(tmp_path / "city.json"),
        state_dir=tmp_path / "rollup",
        http_port=0,
        start_lookback_h=4,
        interval_s=0.2,
    )
    async with InfluxClient(influx_settings) as influx:
        await influx.write(lines_of(readings({"aq-n1": pm25_points(hour_start)["aq-n1"][:5]}, [])))
        stop = asyncio.Event()
        task = asyncio.create_task(run(settings, stop=stop))
        port_file = settings.state_dir / "http.port"
        for _ in range(200):
            completed = await read_progress(influx, HOUR.name.value)
            if port_file.exists() and completed is not None and completed >= hour_start + 3_600_000:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_file.read_text().strip()}") as http:
            for _ in range(100):  # ready once a cycle has succeeded
                if (await http.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert (await http.get("/readyz")).text == "influxdb: ok\n"
            assert (await http.get("/healthz")).text == "ok\n"
            metrics = (await http.get("/metrics")).text
        assert 'smartcity_rollup_windows_total{tier="1h"}' in metrics
        assert "smartcity_rollup_backlog_windows 0.0" in metrics
        policies = await influx.query(f'SHOW RETENTION POLICIES ON "{influx_settings.database}"')
        assert {"rp_1m", "rp_1h", "rp_1d"} <= {str(row[0]) for s in policies for row in s.values}
        stop.set()
        await asyncio.wait_for(task, 10)
