"""The gateway's own clock: it decides what is ``timestamp-future`` or ``timestamp-past`` (the intake passes it to
the parser as ``now_ms``), so a host that boots with a wrong clock would dead-letter every reading. The
:class:`ClockGuard` keeps the gateway from taking messages while its clock is known to be wrong.

What the platform does:

- **Reference: InfluxDB's HTTP ``Date`` header** (``GET /ping``), at start-up before the first connection to the
  broker and then every check interval. It has one-second resolution; with the round trip that bounds the
  measured offset to about a second, far below the threshold.
- **Wrong clock** (``|our clock - InfluxDB's| > max_offset_ms``, 60 s by default): the gateway does not connect to
  the broker, or disconnects (DISCONNECT: the persistent session stays and the broker keeps queueing for it);
  nothing more is taken or acknowledged, so nothing is lost. An ERROR names the offset (repeated every few minutes
  while it lasts) and ``/readyz`` answers 503 with ``clock: off by +612.0 s against InfluxDB``. When a check finds
  the clock right again, the gateway connects and drains what the broker kept.
- **No reference** (InfluxDB unreachable): the last verdict stands (right, at first start). The gateway keeps
  working from its spool as it does whenever InfluxDB is down.
- **Devices as a second opinion**: the median clock offset of devices that sent readings recently
  (:meth:`gateway.health.DeviceHealth.fleet_clock_offset`) is logged as a WARNING when it disagrees with the
  gateway's clock by more than the threshold. It never stops ingestion on its own: a simulator back-fill or a
  fleet of narrowband backlogs looks exactly like a gateway clock that runs ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Self

import httpx

log = logging.getLogger(__name__)

DEFAULT_MAX_OFFSET_MS = 60_000
_REPEAT_ERROR_S = 300.0
_DATE_RESOLUTION_MS = 1_000


@dataclass(frozen=True, slots=True)
class ServerTime:
    """A server's ``Date`` (whole seconds) and our clock when the request left and the answer arrived."""

    server_ms: int
    sent_ms: int
    received_ms: int

    @property
    def local_offset_ms(self) -> int:
        """Our clock minus the server's (positive: ours is ahead), at the middle of the round trip."""
        return (self.sent_ms + self.received_ms) // 2 - (self.server_ms + _DATE_RESOLUTION_MS // 2)

    @property
    def uncertainty_ms(self) -> int:
        return _DATE_RESOLUTION_MS // 2 + (self.received_ms - self.sent_ms) // 2


def parse_http_date(value: str) -> int:
    """An HTTP ``Date`` header (RFC 9110 IMF-fixdate) in epoch ms; ValueError naming the value otherwise."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an HTTP date: {value[:60]!r}") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"HTTP date without a time zone: {value[:60]!r}")
    return int(parsed.timestamp() * 1000)


class InfluxDate:
    """Reads InfluxDB's clock from the ``Date`` header of ``/ping`` (unauthenticated on 1.x, 2.x and 3.x)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=url, timeout=timeout_s, transport=transport, trust_env=False)
        self._clock = clock

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def __call__(self) -> ServerTime | None:
        """The server's time, or None when it cannot be had (unreachable, no or a malformed ``Date``)."""
        sent_ms = int(self._clock() * 1000)
        try:
            response = await self._http.get("/ping")
        except httpx.HTTPError as exc:
            log.debug("no InfluxDB clock reading: %s", exc)
            return None
        received_ms = int(self._clock() * 1000)
        date = response.headers.get("Date")
        if date is None:
            log.debug("InfluxDB answered /ping without a Date header")
            return None
        try:
            server_ms = parse_http_date(date)
        except ValueError as exc:
            log.debug("InfluxDB /ping: %s", exc)
            return None
        return ServerTime(server_ms, sent_ms, received_ms)


Probe = Callable[[], Awaitable[ServerTime | None]]
Fleet = Callable[[int], tuple[int | None, int]]
"""``now_ms -> (median device clock offset or None, devices sampled)``."""


class ClockGuard:
    """Decides whether the gateway's clock may be used to accept readings (see the module docstring).

    ``max_offset_ms`` 0 disables the guard (always trusted). ``clock`` returns epoch seconds (injected in tests).
    """

    def __init__(self, *, max_offset_ms: int = DEFAULT_MAX_OFFSET_MS, clock: Callable[[], float] = time.time) -> None:
        if max_offset_ms < 0:
            raise ValueError(f"max_offset_ms must not be negative, got {max_offset_ms}")
        self.max_offset_ms = max_offset_ms
        self._clock = clock
        self.trusted = True
        self.offset_ms: int | None = None
        """Our clock minus InfluxDB's at the last successful reading (None: never read)."""
        self.fleet_offset_ms: int | None = None
        """Our clock minus the devices' median at the last check (None: too few devices)."""
        self._trusted = asyncio.Event()
        self._trusted.set()
        self._untrusted = asyncio.Event()
        self._checked = asyncio.Event()
        self._last_error_s = 0.0
        self._fleet_warned = False

    # -- decision --------------------------------------------------------------------------------------------

    def check(self, server: ServerTime | None, fleet_median_ms: int | None = None) -> bool:
        """One check; returns whether the clock is trusted now. ``fleet_median_ms`` is the devices' median
        clock offset (device minus our receive time)."""
        self.fleet_offset_ms = None if fleet_median_ms is None else -fleet_median_ms
        if server is not None:
            self.offset_ms = server.local_offset_ms
            trusted = self.max_offset_ms == 0 or abs(self.offset_ms) - server.uncertainty_ms <= self.max_offset_ms
            self._set(trusted)
        self._compare_fleet()
        self._checked.set()
        return self.trusted

    def _set(self, trusted: bool) -> None:
        now_s = self._clock()
        if not trusted:
            if self.trusted or now_s - self._last_error_s >= _REPEAT_ERROR_S:
                log.error(
                    "the gateway's clock is %+.1f s off InfluxDB's (more than %.0f s): not taking messages from "
                    "the broker until it is right (they stay queued there); fix the host's time (NTP)",
                    (self.offset_ms or 0) / 1000,
                    self.max_offset_ms / 1000,
                )
                self._last_error_s = now_s
            self._trusted.clear()
            self._untrusted.set()
        elif not self.trusted:
            log.warning("the gateway's clock is right again (%+.1f s off InfluxDB's): taking messages", self._sec())
            self._untrusted.clear()
            self._trusted.set()
        self.trusted = trusted

    def _compare_fleet(self) -> None:
        off = self.fleet_offset_ms
        if self.max_offset_ms == 0 or off is None or abs(off) <= self.max_offset_ms:
            self._fleet_warned = False
            return
        if not self._fleet_warned:
            log.warning(
                "the devices' median clock is %+.1f s from the gateway's (InfluxDB's clock: %s): either the "
                "gateway's clock or the fleet's is wrong, or most devices are sending back-fills or backlogs",
                -off / 1000,
                "not read" if self.offset_ms is None else f"{self._sec():+.1f} s from ours",
            )
            self._fleet_warned = True

    def _sec(self) -> float:
        return (self.offset_ms or 0) / 1000

    def readiness(self) -> str:
        """The ``/readyz`` state: ``ok``, or why no messages are taken."""
        if self.trusted:
            return "ok"
        return f"off by {self._sec():+.1f} s against InfluxDB: not taking messages"

    # -- running ---------------------------------------------------------------------------------------------

    async def wait_trusted(self, *, first_check_timeout_s: float = 10.0) -> None:
        """Return once the clock is trusted; at start-up, after the first check (or its timeout: unchecked
        counts as trusted)."""
        if not self._checked.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._checked.wait(), first_check_timeout_s)
        await self._trusted.wait()

    async def wait_untrusted(self) -> None:
        """Return when the clock is found wrong (the broker loop then disconnects)."""
        await self._untrusted.wait()

    async def run(self, probe: Probe, fleet: Fleet, *, interval_s: float) -> None:
        """Check now and then every ``interval_s`` until cancelled."""
        while True:
            server = await probe()
            median, _ = fleet(int(self._clock() * 1000))
            self.check(server, median)
            await asyncio.sleep(interval_s)
