"""Batches of encoded points and the bookkeeping that acknowledges their source messages in order.

A message is acknowledged only when the batch it went into is durable (written to InfluxDB or spooled); its dead
letter, if it was rejected, is a point of the same batch. Batches complete out of order (several
writes run at once), but PUBACKs go out in the order the messages arrived, as MQTT asks of a receiver.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Batch:
    """Points read on one broker connection (``generation``), waiting to become durable."""

    generation: int
    lines: list[str] = field(default_factory=list)
    """Line protocol, one point per entry, millisecond precision."""
    topics: list[str] = field(default_factory=list)
    """Source topic of each line (for the dead letter when InfluxDB refuses the point); ``""`` for the platform's
    own records (dead letters), which never get a dead letter of their own."""
    ts_ms: list[int] = field(default_factory=list)
    """Device timestamp of each reading (end-to-end lag)."""
    mids: list[int] = field(default_factory=list)
    """QoS 1 messages to acknowledge once this batch is durable."""
    dead_letters: int = 0
    """Dead-letter points among :attr:`lines`."""
    opened: float = field(default_factory=time.monotonic)
    done: bool = False

    @property
    def points(self) -> int:
        return len(self.lines)

    @property
    def empty(self) -> bool:
        return not self.lines and not self.mids


class AckLedger:
    """Releases PUBACKs in arrival order: a batch's ids go out when it and every batch before it are done.

    Batches from an older connection generation are dropped without acknowledging: their message ids meant
    something only on that connection, and the broker redelivers those messages on the new one.
    """

    def __init__(self, ack: Callable[[Sequence[int]], None]) -> None:
        self._ack = ack
        self._open: deque[Batch] = deque()
        self.generation = 0
        self.unacked = 0
        """Messages handed to a batch and not yet acknowledged (the inflight_unacked gauge)."""

    def register(self, batch: Batch) -> None:
        """Called when ``batch`` is sealed (so registration order is arrival order)."""
        self._open.append(batch)
        self.unacked += len(batch.mids)

    def complete(self, batch: Batch) -> None:
        batch.done = True
        while self._open and self._open[0].done:
            head = self._open.popleft()
            self.unacked -= len(head.mids)
            if head.mids and head.generation == self.generation:
                self._ack(head.mids)

    def new_generation(self) -> int:
        """A new broker connection: ids of batches still open will not be acknowledged."""
        self.generation += 1
        return self.generation

    @property
    def open_batches(self) -> int:
        return len(self._open)
