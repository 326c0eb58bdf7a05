import asyncio
import time

from gateway.service import _watch, subscription_filters
from smartcity.contract.topics import TopicScheme


def test_subscriptions_cover_every_device_kind_and_the_shared_group() -> None:
    scheme = TopicScheme("city")
    assert subscription_filters(scheme, None) == [
        "city/v1/dev/+/reading",
        "city/v1/dev/+/senml",
        "city/v1/dev/+/senml-cbor",
        "city/v1/dev/+/status",
        "city/v1/dev/+/birth",
        "city/v1/dev/+/cmd-ack",
    ]
    assert all(topic.startswith("$share/ingest/city/v1/dev/+/") for topic in subscription_filters(scheme, "ingest"))


class _SilentSession:
    """A connection that stays open but receives nothing (half-open)."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.last_rx = time.monotonic()
        self.reading = True

    async def wait_closed(self) -> str:
        return await asyncio.shield(self.closed)

    def close(self, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)


async def test_the_watchdog_closes_a_silent_connection() -> None:
    session = _SilentSession()
    reason = await asyncio.wait_for(_watch(session, watchdog_s=0.2), 5)  # type: ignore[arg-type]
    assert reason.startswith("watchdog: nothing received")


async def test_the_watchdog_leaves_a_connection_alone_while_the_socket_is_not_read() -> None:
    session = _SilentSession()
    session.reading = False  # the gateway itself stopped reading (hard backpressure): silence is expected
    asyncio.get_running_loop().call_later(1.5, session.close, "closed by the test")
    assert await asyncio.wait_for(_watch(session, watchdog_s=0.2), 5) == "closed by the test"  # type: ignore[arg-type]
