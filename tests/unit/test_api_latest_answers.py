"""``/v1/latest``'s encoded answers are reused only while they are what a fresh build gives: the cache changed, a
listed value left the window, another metric or selection each build anew."""

from __future__ import annotations

import json

from services.api.cache import LatestCache, LatestValue
from services.api.catalogue import Selection
from services.api.latest_answers import LatestAnswers
from tests.support.api_support import api_city

CITY = api_city()
NORTH = Selection("district", "north", frozenset({"north"}), tuple(d for d in CITY.devices if d.district_id == "north"))


def _items(answers: LatestAnswers, cache: LatestCache, since_ms: int, metric: str | None = None) -> list[object]:
    found: list[object] = json.loads(answers.items(cache, NORTH, metric, since_ms))
    return found


def test_an_answer_is_reused_until_the_cache_changes() -> None:
    cache, answers = LatestCache(), LatestAnswers()
    cache.merge([LatestValue("aq-n1", "pm25", 12.5, 60_000), LatestValue("aq-n1", "no2", 20.0, 60_000)])
    first = answers.items(cache, NORTH, None, 0)
    assert answers.items(cache, NORTH, None, 0) is first  # the same bytes, not built again
    assert json.loads(first) == [
        {"device": "aq-n1", "metric": "no2", "value": 20.0, "unit": "ug/m3", "time": "1970-01-01T00:01:00.000Z"},
        {"device": "aq-n1", "metric": "pm25", "value": 12.5, "unit": "ug/m3", "time": "1970-01-01T00:01:00.000Z"},
    ]
    cache.merge([LatestValue("aq-n2", "pm25", 7.0, 120_000)])
    assert [item["device"] for item in _items(answers, cache, 0, "pm25")] == ["aq-n1", "aq-n2"]  # type: ignore[index]
    assert len(_items(answers, cache, 0)) == 3
    cache.merge([LatestValue("aq-n2", "pm25", 1.0, 60_000)])  # older: no change, the answer holds
    assert [item["value"] for item in _items(answers, cache, 0, "pm25")] == [12.5, 7.0]  # type: ignore[index]


def test_values_that_leave_the_window_are_not_listed_any_more() -> None:
    cache, answers = LatestCache(), LatestAnswers()
    cache.merge([LatestValue("aq-n1", "pm25", 12.5, 60_000), LatestValue("aq-n2", "pm25", 7.0, 120_000)])
    assert len(_items(answers, cache, 0)) == 2
    assert len(_items(answers, cache, 60_000)) == 2
    assert _items(answers, cache, 60_001) == [
        {"device": "aq-n2", "metric": "pm25", "value": 7.0, "unit": "ug/m3", "time": "1970-01-01T00:02:00.000Z"}
    ]
    assert _items(answers, cache, 120_001) == []
    cache.merge([LatestValue("aq-n1", "pm25", 13.0, 180_000)])
    assert len(_items(answers, cache, 120_001)) == 1
