"""The backup and restore procedure of docs/DEPLOY.md (and the Kubernetes CronJob's command), on real influxd
servers: points in the default retention policy and in a roll-up policy, ``influxd backup -portable`` over the
RPC port, a fresh server with a new data directory (the wipe), ``influxd restore -portable``: the same
databases, retention policies and point counts."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from smartcity.localservices import InfluxdProcess
from smartcity.localservices.influxd import INFLUXD_BINARY

DATABASE = "city"
START_NS = 1_780_000_000_000_000_000


def _query(server: InfluxdProcess, statement: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=30.0) as client:
        answer = client.post("/query", data={"q": statement, "db": DATABASE})
    answer.raise_for_status()
    (result,) = answer.json()["results"]
    assert "error" not in result, (statement, result)
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def _write(server: InfluxdProcess, lines: list[str], rp: str | None = None) -> None:
    params = {"db": DATABASE} | ({"rp": rp} if rp else {})
    with httpx.Client(base_url=server.url, trust_env=False, timeout=30.0) as client:
        answer = client.post("/write", params=params, content="\n".join(lines))
    assert answer.status_code == 204, answer.text


def _counts(server: InfluxdProcess) -> dict[str, object]:
    counts: dict[str, object] = {}
    for rp in ("autogen", "rp_1h"):
        for series in _query(server, f'SELECT count(*) FROM "{DATABASE}"."{rp}"./.*/'):
            row = dict(zip(series["columns"], series["values"][0], strict=True))
            counts[f"{rp}.{series['name']}"] = {key: n for key, n in row.items() if key != "time" and n is not None}
    policies = _query(server, f'SHOW RETENTION POLICIES ON "{DATABASE}"')
    counts["policies"] = sorted(str(row[0]) for row in policies[0]["values"])
    return counts


def _influxd(*args: str) -> None:
    done = subprocess.run([str(INFLUXD_BINARY), *args], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_portable_backup_restores_every_point_into_a_fresh_server(
    tmp_path: Path, influxd_factory: Callable[..., InfluxdProcess]
) -> None:
    source = influxd_factory()
    _query(source, f'CREATE DATABASE "{DATABASE}"')
    _query(source, f'CREATE RETENTION POLICY "rp_1h" ON "{DATABASE}" DURATION 1825d REPLICATION 1')
    raw = [
        f"air_quality,device=aq-{d},district=d{d % 3} pm25={d + i / 10},no2={i}i {START_NS + i * 60_000_000_000}"
        for d in range(20)
        for i in range(150)
    ]
    health = [f"device_health,device=aq-{d} online=true,seq={d}i {START_NS + d}" for d in range(20)]
    hourly = [
        f"air_quality,district=d{d} pm25_mean={d}.5 {START_NS + h * 3_600_000_000_000}"
        for d in range(3)
        for h in range(48)
    ]
    _write(source, raw + health)
    _write(source, hourly, rp="rp_1h")
    before = _counts(source)
    assert before["autogen.air_quality"] == {"count_pm25": 3000, "count_no2": 3000}
    assert before["autogen.device_health"] == {"count_online": 20, "count_seq": 20}
    assert before["rp_1h.air_quality"] == {"count_pm25_mean": 144}
    assert before["policies"] == ["autogen", "rp_1h"]

    backup = tmp_path / "backup"
    _influxd("backup", "-portable", "-host", source.rpc_address, str(backup))
    assert list(backup.glob("*.manifest")), "a portable backup writes a manifest"
    source.stop()

    fresh = influxd_factory()  # a new data directory: nothing of the old server
    assert DATABASE not in str(_query(fresh, "SHOW DATABASES"))
    _influxd("restore", "-portable", "-host", fresh.rpc_address, str(backup))
    assert _counts(fresh) == before
