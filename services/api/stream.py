"""Fan-out of latest-value changes to event-stream clients, each behind a bounded buffer.

The last-value cache calls :meth:`StreamHub.publish` with the values that changed in a refresh; the hub offers each
to every :class:`Subscription` whose filter (districts, metric) matches. What waits for a client is coalesced per
device and metric: a newer value replaces the one still waiting (``superseded``: the stream is one of latest values;
history keeps every reading). At most ``maxsize`` device-metric pairs wait; when a new pair finds the buffer full,
the pair that has waited longest is dropped (``dropped``). The next read reports both counts, so the stream sends a
``lagged`` event before the values that follow. A client that keeps up never loses anything as long as one
refresh changes no more than ``maxsize`` of its pairs. Memory per connection is bounded: ``maxsize`` references to
values the cache holds anyway, plus at most one batch being written. Nothing here blocks the refresher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.api.cache import LatestValue


@dataclass(frozen=True, slots=True)
class StreamFilter:
    districts: frozenset[str] | None = None
    """None: every district."""
    metric: str | None = None
    """None: every metric."""


@dataclass(frozen=True, slots=True)
class Lag:
    """What a client lost since its last read."""

    dropped: int = 0
    """Device-metric pairs dropped because the buffer was full (their newest value was not sent)."""
    superseded: int = 0
    """Values replaced by a newer one of the same device and metric before they were sent."""

    def __bool__(self) -> bool:
        return bool(self.dropped or self.superseded)


class Subscription:
    """One client's buffer of changed values, at most ``maxsize`` device-metric pairs."""

    def __init__(self, wanted: StreamFilter, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.wanted = wanted
        self.maxsize = maxsize
        self._waiting: dict[tuple[str, str], tuple[str, LatestValue]] = {}
        """Insertion-ordered: the first entry has waited longest."""
        self._ready = asyncio.Event()
        self._dropped = self._superseded = 0
        self.dropped_total = self.superseded_total = self.offered_total = 0
        self.high_water = 0
        """Most pairs that ever waited at once (never above ``maxsize``)."""

    def matches(self, district: str, value: LatestValue) -> bool:
        wanted = self.wanted
        return (wanted.districts is None or district in wanted.districts) and (
            wanted.metric is None or value.metric == wanted.metric
        )

    def offer(self, district: str, value: LatestValue) -> None:
        self.offered_total += 1
        key = (value.device, value.metric)
        if key in self._waiting:
            del self._waiting[key]  # re-inserted below: the pair now counts as fresh
            self._superseded += 1
            self.superseded_total += 1
        elif len(self._waiting) >= self.maxsize:
            del self._waiting[next(iter(self._waiting))]
            self._dropped += 1
            self.dropped_total += 1
        self._waiting[key] = (district, value)
        self.high_water = max(self.high_water, len(self._waiting))
        self._ready.set()

    async def take(self) -> tuple[Lag, list[tuple[str, LatestValue]]]:
        """Wait for values; then (what was lost since the last take, the waiting values, oldest first)."""
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        values = list(self._waiting.values())
        self._waiting.clear()
        lag = Lag(self._dropped, self._superseded)
        self._dropped = self._superseded = 0
        return lag, values

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
