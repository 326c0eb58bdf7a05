"""The event-stream fan-out: filters, the bounded buffer that drops the oldest and says how many, and the cache
feeding it only with values that changed."""

from __future__ import annotations

import asyncio

import pytest

from services.api.cache import LatestCache, LatestValue
from services.api.stream import StreamFilter, StreamHub, Subscription

DISTRICTS = {"aq-n1": "north", "aq-n2": "north", "aq-s1": "south"}


def _hub() -> StreamHub:
    return StreamHub(DISTRICTS.get)


def _value(device: str, ts_ms: int, metric: str = "pm25") -> LatestValue:
    return LatestValue(device, metric, float(ts_ms), ts_ms)


async def test_each_subscription_gets_what_its_filter_selects() -> None:
    hub = _hub()
    north = hub.subscribe(StreamFilter(frozenset({"north"})), 10)
    no2 = hub.subscribe(StreamFilter(metric="no2"), 10)
    everything = hub.subscribe(StreamFilter(), 10)
    values = [_value("aq-n1", 1), _value("aq-s1", 2), _value("aq-n2", 3, "no2"), _value("not-in-city", 4)]
    hub.publish(values)
    assert await north.take() == (0, [("north", values[0]), ("north", values[2])])
    assert await no2.take() == (0, [("north", values[2])])
    assert await everything.take() == (0, [("north", values[0]), ("south", values[1]), ("north", values[2])])


async def test_a_full_buffer_drops_the_oldest_and_reports_them_once() -> None:
    hub = _hub()
    slow = hub.subscribe(StreamFilter(), 3)
    hub.publish(_value("aq-n1", ts) for ts in range(10))
    assert len(slow) == 3
    dropped, values = await slow.take()
    assert (dropped, [v.ts_ms for _d, v in values]) == (7, [7, 8, 9])
    hub.publish([_value("aq-n1", 10)])
    assert await slow.take() == (0, [("north", _value("aq-n1", 10))])
    assert (slow.dropped_total, slow.high_water) == (7, 3)


async def test_take_waits_for_values_and_unsubscribed_buffers_get_none() -> None:
    hub = _hub()
    gone = hub.subscribe(StreamFilter(), 5)
    waiting = hub.subscribe(StreamFilter(), 5)
    hub.unsubscribe(gone)
    taker = asyncio.create_task(waiting.take())
    await asyncio.sleep(0.01)
    assert not taker.done()
    hub.publish([_value("aq-s1", 1)])
    assert await asyncio.wait_for(taker, 1) == (0, [("south", _value("aq-s1", 1))])
    assert (len(gone), hub.subscriptions) == (0, {waiting})


def test_the_cache_passes_on_only_newer_values() -> None:
    changes: list[list[LatestValue]] = []
    cache = LatestCache(on_change=changes.append)
    assert cache.merge([_value("aq-n1", 5), _value("aq-n2", 5)]) == 2
    assert cache.merge([_value("aq-n1", 5), _value("aq-n1", 4)]) == 0  # the same and an older value
    assert cache.merge([_value("aq-n1", 6)]) == 1
    assert changes == [[_value("aq-n1", 5), _value("aq-n2", 5)], [_value("aq-n1", 6)]]


def test_a_buffer_holds_at_least_one_value() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Subscription(StreamFilter(), 0)
