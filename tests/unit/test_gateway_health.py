from gateway.health import WINDOW, DeviceHealth
from smartcity.city.directory import DeviceDirectory
from tests.gateway_city import small_city


def _health() -> DeviceHealth:
    return DeviceHealth(DeviceDirectory.from_city(small_city()))


def test_in_order_readings_have_no_gaps_or_duplicates() -> None:
    health = _health()
    for seq in range(10):
        assert health.observe("aq-1", seq, 1000 + seq, 5000) == (False, 0)
    assert health.snapshot("aq-1") == {
        "last_seq": 9,
        "gaps": 0,
        "duplicates": 0,
        "online": None,
        "last_seen_ms": 5000,
    }


def test_duplicates_are_recognised_within_the_window() -> None:
    health = _health()
    for seq in range(5):
        health.observe("aq-1", seq, 1000 + seq, 0)
    assert health.observe("aq-1", 3, 1003, 0) == (True, 0)
    assert health.observe("aq-1", 4, 1004, 0) == (True, 0)
    assert health.snapshot("aq-1")["duplicates"] == 2  # type: ignore[index]


def test_gaps_count_missing_seqs_and_late_arrivals_fill_them() -> None:
    health = _health()
    health.observe("aq-1", 0, 1000, 0)
    assert health.observe("aq-1", 4, 1004, 0) == (False, 3)
    assert health.observe("aq-1", 2, 1002, 0) == (False, -1)  # late, not a duplicate
    assert health.observe("aq-1", 2, 1002, 0) == (True, 0)
    assert health.snapshot("aq-1")["gaps"] == 2  # type: ignore[index]


def test_a_restarted_sequence_is_not_taken_for_old_duplicates() -> None:
    health = _health()
    health.observe("aq-1", WINDOW * 3, 10_000, 0)
    assert health.observe("aq-1", 0, 20_000, 0) == (False, 0)
    assert health.observe("aq-1", 1, 20_001, 0) == (False, 0)
    assert health.snapshot("aq-1")["last_seq"] == 1  # type: ignore[index]


def test_a_seq_reused_with_a_newer_clock_within_the_window_is_a_restart_not_a_duplicate() -> None:
    health = _health()
    for seq in range(10):
        health.observe("aq-1", seq, 1000 + seq, 0)
    assert health.observe("aq-1", 2, 5000, 0) == (False, 0)  # rebooted device, counting from 2 again
    assert health.observe("aq-1", 3, 5001, 0) == (False, 0)
    assert health.observe("aq-1", 3, 5001, 0) == (True, 0)  # and this one is a real duplicate
    assert health.snapshot("aq-1")["duplicates"] == 1  # type: ignore[index]


def test_lines_carry_registry_tags_and_only_changed_devices() -> None:
    health = _health()
    health.observe("aq-1", 7, 1000, 1234)
    health.set_online("light-1", False, 1300)
    lines = sorted(health.lines(9999))
    assert lines == [
        "device_health,device=aq-1,device_type=air_quality,district=d1,facility=f-school,facility_kind=school "
        "last_seq=7i,gaps=0i,duplicates=0i,last_seen_ms=1234i 9999",
        "device_health,device=light-1,device_type=street_light,district=d2,facility=f-street,"
        "facility_kind=street_segment last_seq=0i,gaps=0i,duplicates=0i,online=false,last_seen_ms=0i 9999",
    ]
    assert list(health.lines(10_000)) == []
    health.observe("aq-1", 8, 1001, 1235)
    assert len(list(health.lines(10_001))) == 1
