"""Device health across gateway restarts and replicas, on the real influxd: what a replica wrote is what it reloads,
and the merged reader of the core sees every replica."""

from __future__ import annotations

import time

from gateway.health import DeviceHealth, HealthSnapshot
from smartcity.city.directory import DeviceDirectory
from smartcity.health import read_device_health
from smartcity.influx.client import InfluxClient
from smartcity.settings import InfluxSettings
from tests.support.cities import small_city


def _health(replica: str, *, shared: bool = False) -> DeviceHealth:
    return DeviceHealth(DeviceDirectory.from_city(small_city()), replica=replica, shared=shared)


async def _write(influx: InfluxClient, health: DeviceHealth, at_ms: int) -> None:
    await influx.write("\n".join(health.lines(at_ms)).encode())


async def test_a_restarted_replica_reloads_its_state_and_credits_late_arrivals(
    influx_settings: InfluxSettings,
) -> None:
    now = int(time.time() * 1000)
    async with InfluxClient(influx_settings) as influx:
        before = _health("gw-a")
        for seq in [*range(10), *range(20, 30)]:
            before.observe("aq-1", seq, now - 60_000 + seq, now)
        before.observe("aq-1", 25, now - 60_000 + 25, now)
        before.set_online("aq-1", True, now)
        other = _health("gw-b")  # another replica of the group: never loaded by gw-a
        other.observe("aq-1", 500, now - 1000, now)
        await _write(influx, before, now)
        await _write(influx, other, now)

        after = _health("")
        assert await after.restore(influx, replica="gw-a") == 1
        tracker = after.tracker("aq-1")
        assert tracker is not None
        assert tracker.ranges == [(0, 9), (20, 29)]
        assert after.snapshot("aq-1") == HealthSnapshot(
            last_seq=29,
            gaps=10,
            duplicates=1,
            online=True,
            last_seen_ms=now,
        )
        for seq in range(10, 20):  # the rest of a backlog, after the restart
            after.observe("aq-1", seq, now - 60_000 + seq, now + 5000)
        snapshot = after.snapshot("aq-1")
        assert snapshot is not None
        assert snapshot.gaps == 0
        assert after.clock_offset("aq-1") is not None


async def test_readings_taken_before_the_reload_finished_are_combined_with_it(
    influx_settings: InfluxSettings,
) -> None:
    now = int(time.time() * 1000)
    async with InfluxClient(influx_settings) as influx:
        before = _health("gw-a")
        for seq in range(100):
            before.observe("aq-1", seq, now - 10_000 + seq, now)
        await _write(influx, before, now)
        after = _health("gw-a")
        for seq in (98, 99, 100, 101):  # redelivered at start-up, then new ones
            after.observe("aq-1", seq, now - 10_000 + seq, now + 1)
        await after.restore(influx, replica="gw-a")
        assert after.snapshot("aq-1") == HealthSnapshot(
            last_seq=101,
            gaps=0,
            duplicates=2,
            online=None,
            last_seen_ms=now + 1,
        )
        assert len(list(after.lines(now + 2))) == 1  # written again: it changed since the stored point


async def test_a_database_that_does_not_exist_yet_restores_nothing(influx_settings: InfluxSettings) -> None:
    missing = influx_settings.model_copy(update={"database": influx_settings.database + "_missing"})
    async with InfluxClient(missing) as influx:
        health = _health("gw-a")
        assert await health.restore(influx, replica="gw-a") == 0
        assert health.restored


async def test_the_merged_reader_combines_interleaved_replicas_into_the_device_figures(
    influx_settings: InfluxSettings,
) -> None:
    now = int(time.time() * 1000)
    a, b = _health("gw-a", shared=True), _health("gw-b", shared=True)
    for seq in range(300):
        if seq in (150, 151, 152):
            continue  # lost upstream
        (a if seq % 2 else b).observe("aq-1", seq, now - 300_000 + seq * 1000, now - 300_000 + seq * 1000 + 40)
    b.observe("aq-2", 7, now - 5, now)
    async with InfluxClient(influx_settings) as influx:
        await _write(influx, a, now)
        await _write(influx, b, now)
        merged = await read_device_health(influx)
        one = await read_device_health(influx, device="aq-2")
    assert sorted(merged) == ["aq-1", "aq-2"]
    aq1 = merged["aq-1"]
    assert (aq1.gaps, aq1.duplicates, aq1.readings, aq1.first_seq, aq1.last_seq) == (3, 0, 297, 0, 299)
    assert aq1.replicas == ("gw-a", "gw-b")
    assert aq1.clock_offset_ms == -40
    assert list(one) == ["aq-2"]
    assert one["aq-2"].clock_offset_ms == -5
