from gateway.health import DeviceHealth, HealthSnapshot
from smartcity.city.directory import DeviceDirectory
from smartcity.health import CLOCK_WINDOW_MS
from tests.support.cities import small_city

NOW = 1_800_000_000_000


def _health(**kwargs: object) -> DeviceHealth:
    return DeviceHealth(DeviceDirectory.from_city(small_city()), **kwargs)  # type: ignore[arg-type]


def test_in_order_readings_have_no_gaps_or_duplicates() -> None:
    health = _health()
    for seq in range(10):
        assert health.observe("aq-1", seq, 1000 + seq, 5000) == (False, 0)
    assert health.snapshot("aq-1") == HealthSnapshot(
        last_seq=9,
        gaps=0,
        duplicates=0,
        online=None,
        last_seen_ms=5000,
    )


def test_a_late_arrival_far_behind_still_fills_its_gap() -> None:
    health = _health()
    health.observe("aq-1", 0, 1000, 0)
    assert health.observe("aq-1", 500, 1500, 0) == (False, 499)
    for seq in range(1, 500):
        health.observe("aq-1", seq, 1000 + seq, 0)
    snapshot = health.snapshot("aq-1")
    assert snapshot is not None
    assert snapshot.gaps == 0


def test_lines_carry_registry_tags_the_replica_and_only_changed_devices() -> None:
    health = _health(replica="gw-a")
    health.observe("aq-1", 7, NOW - 250, NOW)
    health.set_online("light-1", False, NOW + 300)
    lines = sorted(health.lines(NOW + 999))
    tags = "device_health,device=aq-1,device_type=air_quality,district=d1,facility=f-school,facility_kind=school"
    assert lines == [
        f'{tags},replica=gw-a last_seq=7i,gaps=0i,duplicates=0i,first_seq=7i,seen=1i,ranges="7",written_off=0i,'
        f"restarts=0i,run_start_ms={NOW - 250}i,run_after_ms=0i,last_ts_ms={NOW - 250}i,closed_span=0i,"
        f"closed_seen=0i,last_seen_ms={NOW}i,clock_offset_ms=-250i,clock_at_ms={NOW}i {NOW + 999}",
        "device_health,device=light-1,device_type=street_light,district=d2,facility=f-street,"
        f"facility_kind=street_segment,replica=gw-a online=false,status_ms={NOW + 300}i,last_seen_ms=0i {NOW + 999}",
    ]
    assert list(health.lines(NOW + 1000)) == []
    health.observe("aq-1", 8, NOW, NOW + 1)
    assert len(list(health.lines(NOW + 1001))) == 1


def test_nothing_is_written_while_the_stored_state_is_not_restored() -> None:
    health = _health()
    health.observe("aq-1", 1, 1000, 1000)
    health.restored = False
    assert list(health.lines(2000)) == []
    health.restored = True
    assert len(list(health.lines(2000))) == 1


def test_a_shared_replica_reports_no_gap_changes_but_keeps_its_own_accounting() -> None:
    health = _health(shared=True)
    for seq in (0, 2, 4):  # the odd ones went to the other replica
        assert health.observe("aq-1", seq, seq, 0) == (False, 0)
    tracker = health.tracker("aq-1")
    assert tracker is not None
    assert (tracker.seen, tracker.first_seq, tracker.last_seq) == (3, 0, 4)


def test_clock_offset_is_taken_from_the_freshest_reading_not_from_backfill() -> None:
    health = _health()
    health.observe("aq-1", 0, NOW - 7 * 86_400_000, NOW)  # a week-old back-filled reading
    assert health.clock_offset("aq-1") == -7 * 86_400_000
    health.observe("aq-1", 1, NOW - 3 * 3_600_000, NOW + 10)
    health.observe("aq-1", 2, NOW + 1_950, NOW + 2_000)  # live: device clock 50 ms behind, network included
    health.observe("aq-1", 3, NOW - 86_400_000, NOW + 2_100)  # a backlog reading after it changes nothing
    assert health.clock_offset("aq-1") == -50


def test_clock_offset_follows_a_clock_that_went_wrong_within_two_windows() -> None:
    health = _health()
    health.observe("aq-1", 0, NOW, NOW)
    later = NOW + CLOCK_WINDOW_MS
    health.observe("aq-1", 1, later - 3_600_000, later)  # the device clock now runs an hour behind
    assert health.clock_offset("aq-1") == 0  # the previous window still has the good reading
    latest = later + CLOCK_WINDOW_MS
    health.observe("aq-1", 2, latest - 3_600_000, latest)
    assert health.clock_offset("aq-1") == -3_600_000


def test_fleet_clock_offset_is_the_median_of_recent_devices() -> None:
    health = _health()
    known = ["aq-1", "aq-2", "noise-1", "light-1", "display-1", "park-1"]
    for index, device in enumerate(known):
        health.observe(device, 0, NOW + 120_000 + index, NOW)  # all ahead by two minutes: our clock is behind
    median, count = health.fleet_clock_offset(NOW + 1000, min_devices=len(known))
    assert count == len(known)
    assert median is not None
    assert 120_000 <= median < 120_000 + len(known)
    assert health.fleet_clock_offset(NOW + 1000, min_devices=len(known) + 1) == (None, len(known))
    assert health.fleet_clock_offset(NOW + CLOCK_WINDOW_MS, min_devices=1) == (None, 0)  # nothing recent
