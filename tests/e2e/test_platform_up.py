"""The whole path, as `make run` starts it: simulated devices -> Mosquitto (accounts + ACLs) -> gateway -> InfluxDB."""

from __future__ import annotations

import time
from pathlib import Path

from smartcity.up import UpSettings, gateway_counters, platform, stored_points


def test_platform_streams_the_city_into_influxdb_and_stops_cleanly(tmp_path: Path) -> None:
    settings = UpSettings(workdir=tmp_path / "var", devices=150, seed=3, backfill="2h", refresh_s=1.0)
    with platform(settings) as running:
        deadline = time.monotonic() + 90
        points: dict[str, int] = {}
        while time.monotonic() < deadline:
            points = stored_points(running.influxd.url, settings.database)
            # broadband devices write JSON readings, narrowband ones SenML through the network server:
            # parking bays are narrowband, traffic counters broadband in the generated city
            if points.get("parking", 0) > 0 and points.get("traffic", 0) > 0 and sum(points.values()) > 2_000:
                break
            time.sleep(1)
        children = dict(running.children)
        assert running.gateway_http_port is not None
        counters = gateway_counters(running.gateway_http_port)
        assert all(child.poll() is None for child in children.values()), "gateway and simulator keep running"
    assert points.get("parking", 0) > 0, points
    assert points.get("traffic", 0) > 0, points
    assert sum(points.values()) > 2_000, points
    assert all(child.returncode == 0 for child in children.values()), {n: c.returncode for n, c in children.items()}
    assert not running.mosquitto.running
    assert not running.influxd.running
    assert (tmp_path / "var" / "mosquitto-auth" / "acl").is_file()
    # no fault was injected, so nothing may be dead-lettered (device accounts, topics and payloads all valid)
    assert counters["dead-lettered"] == 0, counters
    assert counters["points written"] >= sum(points.values())
