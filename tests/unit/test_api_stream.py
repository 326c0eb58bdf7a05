"""The event-stream fan-out: filters, the bounded buffer that coalesces per device and metric, drops the pair that
waited longest when full and says what was lost, and the cache feeding it only with values that changed."""

from __future__ import annotations

import asyncio

import pytest

from services.api.cache import LatestCache, LatestValue
from services.api.stream import Lag, StreamFilter, StreamHub, Subscription

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
    assert await north.take() == (Lag(), [("north", values[0]), ("north", values[2])])
    assert await no2.take() == (Lag(), [("north", values[2])])
    assert await everything.take() == (Lag(), [("north", values[0]), ("south", values[1]), ("north", values[2])])


async def test_a_newer_value_replaces_the_waiting_one() -> None:
    hub = _hub()
    slow = hub.subscribe(StreamFilter(), 2)
    hub.publish(_value("aq-n1", ts) for ts in range(10))
    assert len(slow) == 1
    assert await slow.take() == (Lag(superseded=9), [("north", _value("aq-n1", 9))])


async def test_a_full_buffer_drops_the_pair_that_waited_longest_and_reports_it_once() -> None:
    hub = _hub()
    slow = hub.subscribe(StreamFilter(), 3)
    metrics = ["pm25", "pm10", "no2", "o3", "temperature"]
    hub.publish(_value("aq-n1", ts, metric) for ts, metric in enumerate(metrics))
    hub.publish([_value("aq-n1", 9, "no2")])  # waiting: no2 moves to the back
    hub.publish([_value("aq-n2", 10)])  # full: o3, the longest waiting, goes
    assert len(slow) == 3
    lag, values = await slow.take()
    assert lag == Lag(dropped=3, superseded=1)
    assert [(v.device, v.metric, v.ts_ms) for _d, v in values] == [
        ("aq-n1", "temperature", 4),
        ("aq-n1", "no2", 9),
        ("aq-n2", "pm25", 10),
    ]
    hub.publish([_value("aq-s1", 11)])
    assert await slow.take() == (Lag(), [("south", _value("aq-s1", 11))])
    assert (slow.dropped_total, slow.superseded_total, slow.offered_total, slow.high_water) == (3, 1, 8, 3)


async def test_take_waits_for_values_and_unsubscribed_buffers_get_none() -> None:
    hub = _hub()
    gone = hub.subscribe(StreamFilter(), 5)
    waiting = hub.subscribe(StreamFilter(), 5)
    hub.unsubscribe(gone)
    taker = asyncio.create_task(waiting.take())
    await asyncio.sleep(0.01)
    assert not taker.done()
    hub.publish([_value("aq-s1", 1)])
    assert await asyncio.wait_for(taker, 1) == (Lag(), [("south", _value("aq-s1", 1))])
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
