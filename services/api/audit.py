"""The audit trail's writing side: every request made with a key becomes a record of the state database.

:class:`AuditMiddleware` recognises the key itself (through the key ring's cache, so it also covers requests that
a dependency refuses before a route runs) and records the request when its answer starts: key id, department,
method, route template, path and query parameters, arrival time, the rows the answer holds (a route says so with
:func:`count_rows`; unknown elsewhere) and the status. A request that fails without an answer is recorded as 500.
Requests without a key, or with an unknown or revoked one, are not audited (the rate limiter meets those).

Records wait in :class:`AuditTrail`'s queue and are appended to the hash chain (:mod:`services.api.auditchain`) in
one transaction every :data:`FLUSH_S`, in a worker thread with a connection of its own, so a request pays for a
dictionary and a queue append, never for the database. At shutdown the queue is flushed before the state closes.

The queue holds at most :data:`MAX_QUEUED` records. When it is full (the database has refused writes for a while:
a full disk, a lock held by hand) a request with a key is refused with 503 ``audit-unavailable`` before it runs:
no data leaves unaudited. A failed flush keeps its records at the head of the queue and is tried again.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api import auditchain
from services.api.auditchain import AuditEntry
from services.api.auditlog import AuditReader
from services.api.keys import KeyRecord
from services.api.problems import PROBLEM_JSON
from services.api.statedb import DatabaseError, Location, StateError, open_database

log = logging.getLogger(__name__)

FLUSH_S = 0.1
"""How often queued records are written."""
MAX_QUEUED = 100_000
"""Records waiting at most; then requests with a key are refused (503) until a flush succeeds."""
MAX_PARAMS = 50
"""Parameters recorded per request (the rest are counted under ``"…"``)."""
MAX_VALUE = 200
"""Characters recorded per parameter value."""


@dataclass
class AuditNote:
    """What a route tells the audit about its answer."""

    rows: int | None = None


_NOTE: contextvars.ContextVar[AuditNote | None] = contextvars.ContextVar("audit_note", default=None)


def count_rows(rows: int) -> None:
    """Record how many rows the answer of the current request holds (a no-op outside an audited request)."""
    note = _NOTE.get()
    if note is not None:
        note.rows = rows


class AuditTrail:
    """The queue of records and the writer that appends them to the chain in the state database at ``location``."""

    def __init__(self, location: Location, *, flush_s: float = FLUSH_S, max_queued: int = MAX_QUEUED) -> None:
        self.flush_s = flush_s
        self.max_queued = max_queued
        self._queue: deque[AuditEntry] = deque()
        self._lock = threading.Lock()
        self._db = open_database(location)
        self.path = self._db.where
        try:
            auditchain.create(self._db)
        except DatabaseError as exc:
            self._db.close()
            raise StateError(f"cannot open the audit trail in {self.path}: {exc}") from exc
        self.reader = AuditReader(location)
        """For ``/v1/audit`` (a connection of its own)."""
        self.written = 0

    @property
    def full(self) -> bool:
        return len(self._queue) >= self.max_queued

    @property
    def queued(self) -> int:
        return len(self._queue)

    def record(self, entry: AuditEntry) -> None:
        self._queue.append(entry)

    def _write(self, batch: list[AuditEntry]) -> None:
        with self._lock:
            auditchain.append(self._db, batch)
            self.written += len(batch)

    async def flush(self) -> int:
        """Append what is queued now; returns how many records (0 when the write failed: they stay queued)."""
        batch = list(self._queue)
        if not batch:
            return 0
        for _ in batch:
            self._queue.popleft()
        try:
            await asyncio.to_thread(self._write, batch)
        except DatabaseError as exc:
            self._queue.extendleft(reversed(batch))
            log.warning("audit: %d records not written to %s (kept, retried): %s", len(batch), self.path, exc)
            return 0
        return len(batch)

    async def run(self) -> None:
        """Flush every ``flush_s`` until cancelled, then once more (what the last requests left)."""
        try:
            while True:
                await asyncio.sleep(self.flush_s)
                await self.flush()
        finally:
            self.close()

    def close(self) -> None:
        """Write what is still queued (blocking: shutdown) and close the connection."""
        batch = list(self._queue)
        self._queue.clear()
        try:
            if batch:
                self._write(batch)
        except DatabaseError as exc:
            log.error("audit: %d records lost at shutdown, %s refused them: %s", len(batch), self.path, exc)
        finally:
            with self._lock:
                self._db.close()
            self.reader.close()


def _params(scope: Scope) -> str:
    params: dict[str, object] = {}
    for name, value in scope.get("path_params", {}).items():
        params[str(name)[:MAX_VALUE]] = str(value)[:MAX_VALUE]
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    for number, (name, value) in enumerate(pairs):
        if number >= MAX_PARAMS:
            params["…"] = len(pairs) - MAX_PARAMS
            break
        name, value = name[:MAX_VALUE], value[:MAX_VALUE]
        held = params.get(name)
        if held is None:
            params[name] = value
        elif isinstance(held, list):
            held.append(value)
        else:
            params[name] = [held, value]
    return json.dumps(params, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


_FULL = {
    "type": "/problems/audit-unavailable",
    "title": "Service unavailable",
    "status": 503,
    "detail": "the audit trail cannot be written at the moment, so no request with a key is answered",
}


class AuditMiddleware:
    """Audits every request whose ``Authorization`` carries a valid key; ``identify`` checks a presented key and
    ``trail`` is the app's :class:`AuditTrail` (both looked up per request: the lifespan makes them)."""

    def __init__(
        self,
        app: ASGIApp,
        identify: Callable[[Scope, str], KeyRecord | None],
        trail: Callable[[Scope], AuditTrail | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self._identify = identify
        self._trail = trail
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _bearer(scope) if scope["type"] == "http" else None
        trail = self._trail(scope) if token is not None else None
        record = self._identify(scope, token) if token is not None and trail is not None else None
        if record is None or trail is None:
            await self.app(scope, receive, send)
            return
        if trail.full:
            body = _FULL | {"instance": scope.get("path", "")}
            answer = JSONResponse(body, status_code=503, media_type=PROBLEM_JSON, headers={"Retry-After": "5"})
            await answer(scope, receive, send)
            return
        arrived_ms = int(self._clock() * 1000)
        note = AuditNote()
        reset = _NOTE.set(note)
        recorded = False

        def add(status: int) -> None:
            nonlocal recorded
            recorded = True
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            entry = AuditEntry(
                arrived_ms, record.key_id, record.department, scope["method"], route, _params(scope), note.rows, status
            )
            trail.record(entry)

        async def send_noted(message: Message) -> None:
            if message["type"] == "http.response.start" and not recorded:
                add(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_noted)
        finally:
            _NOTE.reset(reset)
            if not recorded:
                add(500)
