"""``/v1/latest`` answers, encoded once and reused while the last-value cache holds the same values.

The cache changes at most once per refresh (every few seconds) and clients ask far more often: a district's
answer is tens of thousands of values, and building and encoding it on every request made it the most expensive
route. The encoded ``items`` of each selection (device, facility or district) and metric are kept with the cache's
version and the oldest listed time; they are rebuilt when the cache has changed, or when a listed value has left
the latest window (values older than the window are never listed, so a later, narrower window only drops values).
"""

from __future__ import annotations

import msgspec

from services.api.answers import Answer
from services.api.cache import LatestCache
from services.api.catalogue import Selection
from services.api.schemas import iso
from smartcity.contract.metrics import METRICS

MAX_HELD = 4_096
"""Encoded answers kept at most (all are dropped when full: each is rebuilt at its next request)."""
_NONE_LISTED = 2**63
_JSON = msgspec.json.Encoder()


class LatestAnswers:
    """The encoded ``items`` array of ``/v1/latest`` per (scope, id, metric)."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str, str | None], tuple[int, int, bytes]] = {}
        self._answers: dict[tuple[str, str, str | None], tuple[bytes, int, Answer]] = {}

    def answer(self, cache: LatestCache, selection: Selection, metric: str | None, since_ms: int) -> Answer:
        """The whole answer (``as_of`` and ``items``), built once per refresh of the cache and kept with its gzip
        form for every client that asks until the next one."""
        key = (selection.scope, selection.ident, metric)
        items = self.items(cache, selection, metric, since_ms)
        refreshed = cache.refreshed_ms or 0
        held = self._answers.get(key)
        if held is not None and held[0] is items and held[1] == refreshed:
            return held[2]
        body = b"".join((b'{"as_of":', _JSON.encode(iso(refreshed)), b',"items":', items, b"}"))
        answer = Answer(body, items.count(b'"device":'))
        if len(self._answers) >= MAX_HELD:
            self._answers.clear()
        self._answers[key] = (items, refreshed, answer)
        return answer

    def items(self, cache: LatestCache, selection: Selection, metric: str | None, since_ms: int) -> bytes:
        """The JSON array of the selection's values at or after ``since_ms`` (of ``metric`` only, when given)."""
        key = (selection.scope, selection.ident, metric)
        held = self._held.get(key)
        if held is not None and held[0] == cache.version and since_ms <= held[1]:
            return held[2]
        stamps: dict[int, str] = {}  # a reading's metrics share its time
        oldest = _NONE_LISTED
        items = []
        for device in selection.devices:
            for value in cache.values(device.id, since_ms=since_ms, metric=metric):
                spec = METRICS.get(value.metric)
                if spec is None:
                    continue
                stamp = stamps.get(value.ts_ms)
                if stamp is None:
                    stamp = stamps[value.ts_ms] = iso(value.ts_ms)
                items.append(
                    {
                        "device": value.device,
                        "metric": value.metric,
                        "value": value.value,
                        "unit": spec.unit,
                        "time": stamp,
                    }
                )
                oldest = min(oldest, value.ts_ms)
        encoded = _JSON.encode(items)
        if len(self._held) >= MAX_HELD:
            self._held.clear()
        self._held[key] = (cache.version, oldest, encoded)
        return encoded
