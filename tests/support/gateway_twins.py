"""In-memory twins of the gateway's I/O seams: the InfluxDB store and the broker side."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from smartcity.influx.errors import InfluxError


class MemoryStore:
    """A :class:`gateway.writer.PointStore` that keeps lines; ``fail`` decides per call what to raise."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.calls = 0
        self.fail: Callable[[list[str]], InfluxError | None] = lambda _lines: None

    async def write(self, body: bytes) -> None:
        self.calls += 1
        lines = body.decode().split("\n")
        problem = self.fail(lines)
        if problem is not None:
            raise problem
        self.lines += lines


class MemoryBroker:
    """The broker side of the pipeline: records acks, publishes (acknowledged at once unless ``hold``) and flow."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self.published: list[tuple[str, bytes]] = []
        self.held: list[asyncio.Future[None]] = []
        self.hold = False
        self.fail_publish = False
        self.paused = False
        self.pauses = 0

    def ack(self, mids: Sequence[int]) -> None:
        self.acked += list(mids)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> asyncio.Future[None]:
        self.published.append((topic, payload))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_publish:
            done.set_exception(ConnectionError("not connected"))
        elif self.hold:
            self.held.append(done)
        else:
            done.set_result(None)
        return done

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False
