"""Fan-out of latest-value changes to event-stream clients, each behind a bounded buffer.

The last-value cache calls :meth:`StreamHub.publish` with the values that changed in a refresh; the hub offers each
to every :class:`Subscription` whose filter (districts, metric) matches. A subscription holds at most ``maxsize``
values. When a client reads more slowly than values change, the oldest waiting values are dropped (the newer ones
say more about "latest" than the older ones) and counted; the next read reports the count, so the stream sends a
``lagged`` event before the values that follow. Memory per connection is therefore bounded: ``maxsize`` values
waiting plus at most one batch of ``maxsize`` being written. Nothing here blocks the refresher.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.api.cache import LatestValue


@dataclass(frozen=True, slots=True)
class StreamFilter:
    districts: frozenset[str] | None = None
    """None: every district."""
    metric: str | None = None
    """None: every metric."""


class Subscription:
    """One client's buffer of changed values."""

    def __init__(self, wanted: StreamFilter, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.wanted = wanted
        self.maxsize = maxsize
        self._waiting: deque[tuple[str, LatestValue]] = deque()
        self._ready = asyncio.Event()
        self._dropped = 0
        self.dropped_total = 0
        """Values dropped for this client since it subscribed."""
        self.high_water = 0
        """Most values that ever waited at once (never above ``maxsize``)."""

    def matches(self, district: str, value: LatestValue) -> bool:
        wanted = self.wanted
        return (wanted.districts is None or district in wanted.districts) and (
            wanted.metric is None or value.metric == wanted.metric
        )

    def offer(self, district: str, value: LatestValue) -> None:
        if len(self._waiting) >= self.maxsize:
            self._waiting.popleft()
            self._dropped += 1
            self.dropped_total += 1
        self._waiting.append((district, value))
        self.high_water = max(self.high_water, len(self._waiting))
        self._ready.set()

    async def take(self) -> tuple[int, list[tuple[str, LatestValue]]]:
        """Wait for values; then (values dropped since the last take, the waiting values, oldest first)."""
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        values = list(self._waiting)
        self._waiting.clear()
        dropped, self._dropped = self._dropped, 0
        return dropped, values

    def __len__(self) -> int:
        return len(self._waiting)


class StreamHub:
    """Every open subscription; ``district_of`` maps a device id to its district (None: not in the city)."""

    def __init__(self, district_of: Callable[[str], str | None]) -> None:
        self._district_of = district_of
        self.subscriptions: set[Subscription] = set()

    def subscribe(self, wanted: StreamFilter, maxsize: int) -> Subscription:
        subscription = Subscription(wanted, maxsize)
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    def publish(self, values: Iterable[LatestValue]) -> None:
        """Offer each changed value to the subscriptions that want it."""
        if not self.subscriptions:
            return
        for value in values:
            district = self._district_of(value.device)
            if district is None:
                continue
            for subscription in self.subscriptions:
                if subscription.matches(district, value):
                    subscription.offer(district, value)
