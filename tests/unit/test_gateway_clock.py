import asyncio
import contextlib
import logging

import httpx
import pytest

from gateway.clock import ClockGuard, InfluxDate, ServerTime, parse_http_date

SERVER_MS = 1_800_000_000_000  # a whole second, as HTTP dates are


class FakeClock:
    def __init__(self, epoch_s: float) -> None:
        self.now = epoch_s

    def __call__(self) -> float:
        return self.now


def _server(local_offset_s: float, rtt_ms: int = 4) -> ServerTime:
    """What a /ping answered at SERVER_MS would give with our clock ``local_offset_s`` ahead."""
    sent = SERVER_MS + 500 + int(local_offset_s * 1000) - rtt_ms // 2
    return ServerTime(SERVER_MS, sent, sent + rtt_ms)


def test_parse_http_date_reads_the_imf_fixdate_and_names_bad_values() -> None:
    assert parse_http_date("Tue, 01 Dec 2026 12:22:39 GMT") == 1_796_127_759_000
    with pytest.raises(ValueError, match="not an HTTP date: 'yesterday'"):
        parse_http_date("yesterday")


def test_the_offset_is_taken_at_the_middle_of_the_round_trip() -> None:
    assert _server(0.0).local_offset_ms == 0
    assert _server(-612.0).local_offset_ms == -612_000
    assert _server(0.0, rtt_ms=200).uncertainty_ms == 600


def test_a_clock_within_the_threshold_is_trusted() -> None:
    guard = ClockGuard(max_offset_ms=60_000, clock=FakeClock(SERVER_MS / 1000))
    assert guard.check(_server(59.0)) is True
    assert guard.readiness() == "ok"


def test_a_wrong_clock_stops_intake_names_the_offset_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(SERVER_MS / 1000)
    guard = ClockGuard(max_offset_ms=60_000, clock=clock)
    with caplog.at_level(logging.WARNING, logger="gateway.clock"):
        assert guard.check(_server(-612.0)) is False
    assert guard.readiness() == "off by -612.0 s against InfluxDB: not taking messages"
    (error,) = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "-612.0 s off InfluxDB's" in error.getMessage()
    caplog.clear()
    clock.now += 10
    with caplog.at_level(logging.WARNING, logger="gateway.clock"):
        guard.check(_server(-612.0))
    assert not caplog.records  # not repeated at every check
    clock.now += 600
    with caplog.at_level(logging.WARNING, logger="gateway.clock"):
        guard.check(_server(-612.0))
    assert [record.levelno for record in caplog.records] == [logging.ERROR]  # but every few minutes
    assert guard.check(_server(0.3)) is True
    assert guard.readiness() == "ok"


def test_without_a_reference_the_last_verdict_stands() -> None:
    guard = ClockGuard(max_offset_ms=60_000)
    assert guard.check(None) is True  # never checked: trusted
    guard.check(_server(3600.0))
    assert guard.check(None) is False  # InfluxDB unreachable now: still held


def test_the_devices_alone_never_stop_intake_but_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    guard = ClockGuard(max_offset_ms=60_000)
    with caplog.at_level(logging.WARNING, logger="gateway.clock"):
        assert guard.check(_server(0.0), fleet_median_ms=-7 * 86_400_000) is True  # e.g. a fleet back-filling
        assert guard.check(None, fleet_median_ms=-7 * 86_400_000) is True
    (warning,) = caplog.records
    assert "devices' median clock is -604800.0 s from the gateway's" in warning.getMessage()
    assert guard.fleet_offset_ms == 7 * 86_400_000


def test_zero_disables_the_guard() -> None:
    guard = ClockGuard(max_offset_ms=0)
    assert guard.check(_server(1e6)) is True
    with pytest.raises(ValueError, match="must not be negative"):
        ClockGuard(max_offset_ms=-1)


async def test_wait_trusted_holds_until_the_clock_is_right_and_wait_untrusted_fires() -> None:
    guard = ClockGuard(max_offset_ms=60_000)
    waiter = asyncio.create_task(guard.wait_trusted())
    await asyncio.sleep(0)
    assert not waiter.done()  # the first check has not happened yet
    untrusted = asyncio.create_task(guard.wait_untrusted())
    guard.check(_server(-700.0))
    await asyncio.wait_for(untrusted, 1)
    await asyncio.sleep(0.01)
    assert not waiter.done()
    guard.check(_server(0.0))
    await asyncio.wait_for(waiter, 1)


async def test_wait_trusted_goes_ahead_unchecked_when_no_check_comes() -> None:
    guard = ClockGuard()
    await asyncio.wait_for(guard.wait_trusted(first_check_timeout_s=0.01), 1)


async def test_run_checks_with_the_probe_and_the_fleet() -> None:
    guard = ClockGuard(max_offset_ms=60_000, clock=FakeClock(SERVER_MS / 1000))
    seen: list[int] = []

    async def probe() -> ServerTime | None:
        return _server(-120.0)

    def fleet(now_ms: int) -> tuple[int | None, int]:
        seen.append(now_ms)
        return 120_000, 40

    task = asyncio.create_task(guard.run(probe, fleet, interval_s=0.01))
    await asyncio.wait_for(guard.wait_untrusted(), 1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert seen[0] == SERVER_MS
    assert guard.fleet_offset_ms == -120_000


async def test_influx_date_reads_the_ping_date_header() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/ping"
        return httpx.Response(204, headers={"Date": "Tue, 01 Dec 2026 12:22:39 GMT"})

    probe = InfluxDate("http://influx.test", transport=httpx.MockTransport(answer), clock=FakeClock(1_796_127_759.6))
    try:
        reading = await probe()
    finally:
        await probe.aclose()
    assert reading == ServerTime(1_796_127_759_000, 1_796_127_759_600, 1_796_127_759_600)


@pytest.mark.parametrize(
    "response",
    [httpx.Response(204), httpx.Response(204, headers={"Date": "soon"})],
    ids=["no-date", "bad-date"],
)
async def test_influx_date_without_a_usable_date_is_no_reading(response: httpx.Response) -> None:
    probe = InfluxDate("http://influx.test", transport=httpx.MockTransport(lambda _request: response))
    try:
        assert await probe() is None
    finally:
        await probe.aclose()


async def test_influx_date_of_an_unreachable_server_is_no_reading() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    probe = InfluxDate("http://influx.test", transport=httpx.MockTransport(refuse))
    try:
        assert await probe() is None
    finally:
        await probe.aclose()
