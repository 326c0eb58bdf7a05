"""In-memory twins of the planning API's seams (:class:`services.api.state.KeyStore`,
:class:`services.api.cache.QueryStore`, :class:`services.api.broker.CommandPublisher`) for unit tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from services.api.keys import KeyRecord, Role, new_key
from smartcity.influx.client import ParamValue, Series
from smartcity.influx.errors import InfluxError


class MemoryKeyStore:
    def __init__(self) -> None:
        self.records: dict[str, tuple[KeyRecord, str]] = {}
        self.finds = 0

    def find(self, key_id: str) -> tuple[KeyRecord, str] | None:
        self.finds += 1
        return self.records.get(key_id)

    def create(
        self, role: Role, districts: tuple[str, ...] = (), name: str = "", department: str | None = None
    ) -> tuple[KeyRecord, str]:
        key_id, key, stored = new_key()
        record = KeyRecord(key_id, role, districts, name, created_ms=len(self.records), department=department)
        self.records[key_id] = (record, stored)
        return record, key

    def list(self) -> list[KeyRecord]:
        return [record for record, _digest in self.records.values()]

    def revoke(self, key_id: str) -> KeyRecord | None:
        found = self.records.get(key_id)
        if found is None:
            return None
        record = dataclasses.replace(found[0], revoked_ms=found[0].revoked_ms or 1)
        self.records[key_id] = (record, found[1])
        return record


class ScriptedStore:
    """Answers queries with the next scripted answer (a list of series, or an error to raise), then with empty
    answers, and records every query."""

    def __init__(self, *answers: list[Series] | InfluxError) -> None:
        self.answers = list(answers)
        self.queries: list[tuple[str, dict[str, ParamValue]]] = []
        self._asked = asyncio.Event()

    async def wait_queries(self, count: int) -> None:
        """Return once ``count`` queries have been asked."""
        while len(self.queries) < count:
            self._asked.clear()
            await self._asked.wait()

    async def query(self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms") -> list[Series]:
        self.queries.append((q, dict(params or {})))
        self._asked.set()
        answer = self.answers.pop(0) if self.answers else []
        if isinstance(answer, InfluxError):
            raise answer
        return answer


class MemoryPublisher:
    """A :class:`services.api.broker.CommandPublisher` that records what it was given, or raises ``fail``."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.published: list[tuple[str, bytes, int]] = []

    async def publish(self, topic: str, payload: bytes, *, expiry_s: int) -> None:
        if self.fail is not None:
            raise self.fail
        self.published.append((topic, payload, expiry_s))
