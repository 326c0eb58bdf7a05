"""Two gateway replicas in one ``$share`` group on a real Mosquitto and influxd: each sees an interleaved part of
every device's sequence, and the merged device health (the core's reader) still reports zero gaps for gap-free
devices, across a restart of one replica."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smartcity.health import DeviceHealth, ReplicaHealth, read_device_health, read_replica_records
from smartcity.influx.client import InfluxClient
from smartcity.localservices.gateway import GatewayProcess
from smartcity.settings import InfluxSettings
from tests.e2e.gateway_rig import Rig

pytestmark = pytest.mark.slow

_OWN = ("SMARTCITY_GATEWAY_SPOOL_DIR", "SMARTCITY_GATEWAY_HTTP_PORT")


def _replica(rig: Rig, workdir: Path, name: str) -> GatewayProcess:
    env = {key: value for key, value in rig.gateway.env.items() if key not in _OWN}
    client_id = env["SMARTCITY_GATEWAY_MQTT__CLIENT_ID"] + "-" + name
    env |= {
        "SMARTCITY_GATEWAY_MQTT__CLIENT_ID": client_id,
        "SMARTCITY_GATEWAY_SHARED_GROUP": "ingest",
        "SMARTCITY_GATEWAY_BATCH_MS": "20",
        "SMARTCITY_GATEWAY_HEALTH_INTERVAL_S": "1",
    }
    return GatewayProcess(workdir / name, env)


DEVICES = 7
"""Round robin over an odd number of devices: the group's round robin then alternates each device's readings
between the two replicas (with 8, each device would land on one replica only)."""


def _publish(rig: Rig, numbers: range) -> None:
    """Readings number ``n`` of ``numbers``: device n % DEVICES, seq n // DEVICES."""
    for n in numbers:
        seq, index = divmod(n, DEVICES)
        rig.publisher.send(*rig.reading(index, seq))
        rig.ledger.published[rig.devices[index]].add(seq)


def _health(rig: Rig) -> tuple[dict[str, DeviceHealth], list[ReplicaHealth]]:
    async def read() -> tuple[dict[str, DeviceHealth], list[ReplicaHealth]]:
        async with InfluxClient(InfluxSettings(url=rig.influxd.url, database=rig.probe.database)) as influx:
            return await read_device_health(influx), await read_replica_records(influx)

    return asyncio.run(read())


def _assert_gap_free(rig: Rig, per_device: int, replicas: tuple[str, ...]) -> list[ReplicaHealth]:
    merged, records = _health(rig)
    assert sorted(merged) == sorted(rig.devices[:DEVICES])
    for device, health in merged.items():
        figures = (health.gaps, health.duplicates, health.readings, health.first_seq, health.last_seq)
        assert figures == (0, 0, per_device, 0, per_device - 1), f"{device}: {health}"
        assert health.replicas == replicas
        assert health.clock_offset_ms is not None
    return records


def test_two_replicas_in_one_share_group_report_zero_gaps_for_gap_free_devices(rig: Rig, tmp_path: Path) -> None:
    a, b = _replica(rig, tmp_path, "a"), _replica(rig, tmp_path, "b")
    try:
        a.start()
        b.start()
        _publish(rig, range(DEVICES * 30))
        assert rig.wait_stored(DEVICES * 30, timeout_s=20) == DEVICES * 30, a.log_tail() + b.log_tail()
        a.stop()
        b.stop()  # each writes its device health at shutdown
        ids = tuple(sorted(gateway.env["SMARTCITY_GATEWAY_MQTT__CLIENT_ID"] for gateway in (a, b)))
        records = _assert_gap_free(rig, 30, ids)
        for device in rig.devices[:DEVICES]:  # the group split every device's sequence between the replicas
            seen = {record.replica: record.seen for record in records if record.device == device}
            assert sorted(seen) == list(ids)
            assert all(0 < count < 30 for count in seen.values()), (device, seen)

        a.start()  # restarted replicas reload their own state and go on counting
        b.start()
        _publish(rig, range(DEVICES * 30, DEVICES * 40))
        assert rig.wait_stored(DEVICES * 40, timeout_s=20) == DEVICES * 40, a.log_tail() + b.log_tail()
        a.stop()
        b.stop()
        for gateway in (a, b):
            assert f"device health of {DEVICES} devices reloaded" in gateway.log_tail(400)
        _assert_gap_free(rig, 40, ids)
    finally:
        a.stop()
        b.stop()
