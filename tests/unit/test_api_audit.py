"""The audit trail in the real SQLite state database: the hash chain and what breaks it, the batching writer, the
middleware that records requests made with a key, the reader's filters, pages and CSV, and ``smartcity api audit``."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from starlette.types import Receive, Scope, Send
from typer.testing import CliRunner

from services.api import auditchain
from services.api.audit import MAX_PARAMS, AuditMiddleware, AuditTrail, count_rows
from services.api.auditchain import GENESIS, AuditEntry
from services.api.auditlog import CSV_COLUMNS, AuditFilter, AuditReader
from services.api.keys import KeyRecord, Role
from services.api.statedb import SqliteDatabase
from services.cli import register
from tests.support.api_support import write_api_city

T0 = 1_745_000_000_000
runner = CliRunner()


def _entry(number: int, *, key: str = "0123456789ab", department: str | None = "education") -> AuditEntry:
    return AuditEntry(T0 + number, key, department, "GET", "/v1/history", f'{{"n":"{number}"}}', number, 200)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    connection = SqliteDatabase(sqlite3.connect(tmp_path / "state.sqlite", isolation_level=None), "state.sqlite")
    auditchain.create(connection)
    yield connection
    connection.close()


def test_records_chain_each_to_the_previous_one(db: SqliteDatabase) -> None:
    assert auditchain.append(db, [_entry(1), _entry(2)]) == 2
    assert auditchain.append(db, [_entry(3)]) == 3
    rows = db.execute("SELECT seq, prev_hash, hash FROM audit ORDER BY seq").fetchall()
    assert [row[0] for row in rows] == [1, 2, 3]
    assert rows[0][1] == GENESIS
    assert rows[1][1] == rows[0][2]
    assert rows[2][1] == rows[1][2]
    assert rows[0][2] == auditchain.chain_hash(1, _entry(1), GENESIS)
    verdict = auditchain.verify(db)
    assert verdict.intact
    assert (verdict.records, verdict.head_seq, verdict.head_hash) == (3, 3, rows[2][2])


@pytest.mark.parametrize(
    ("tamper", "broken", "says"),
    [
        ("UPDATE audit SET rows = 999 WHERE seq = 3", 3, "content does not match its hash"),
        ("UPDATE audit SET department = 'health' WHERE seq = 2", 2, "content does not match its hash"),
        ("DELETE FROM audit WHERE seq = 3", 3, "record 3 missing before record 4"),
        ("DELETE FROM audit WHERE seq IN (2, 3)", 2, "records 2 to 3 missing before record 4"),
        ("DELETE FROM audit WHERE seq = 1", 1, "record 1 missing before record 2"),
        ("UPDATE audit SET prev_hash = hash WHERE seq = 4", 4, "link to the previous record"),
    ],
)
def test_verify_names_the_first_broken_record(db: SqliteDatabase, tamper: str, broken: int, says: str) -> None:
    auditchain.append(db, [_entry(n) for n in range(1, 6)])
    db.execute(tamper)
    verdict = auditchain.verify(db, chunk=2)
    assert not verdict.intact
    assert verdict.broken_seq == broken
    assert says in verdict.reason


def test_a_record_rewritten_with_a_fresh_hash_breaks_the_next_link(db: SqliteDatabase) -> None:
    auditchain.append(db, [_entry(n) for n in range(1, 4)])
    prev = db.execute("SELECT prev_hash FROM audit WHERE seq = 2").fetchone()[0]
    forged = AuditEntry(T0, "0123456789ab", "education", "GET", "/v1/history", "{}", 0, 200)
    db.execute(
        "UPDATE audit SET time_ms = ?, params = '{}', rows = 0, hash = ? WHERE seq = 2",
        (T0, auditchain.chain_hash(2, forged, prev)),
    )
    verdict = auditchain.verify(db)
    assert verdict.broken_seq == 3


def test_two_writers_on_one_file_extend_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    first = SqliteDatabase.open(path)
    second = SqliteDatabase.open(path)
    auditchain.create(first)
    auditchain.append(first, [_entry(1)])
    auditchain.append(second, [_entry(2), _entry(3)])
    auditchain.append(first, [_entry(4)])
    assert auditchain.verify(second).records == 4
    first.close()
    second.close()


async def test_the_trail_writes_its_queue_in_batches_and_at_close(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "state.sqlite", flush_s=0.01)
    for n in range(1, 4):
        trail.record(_entry(n))
    assert await trail.flush() == 3
    assert await trail.flush() == 0
    task = asyncio.create_task(trail.run())
    trail.record(_entry(4))
    for _ in range(200):
        if trail.written == 4:
            break
        await asyncio.sleep(0.01)
    assert trail.written == 4
    trail.record(_entry(5))  # left in the queue: written when the task stops
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    reader = AuditReader(tmp_path / "state.sqlite")
    assert [r.seq for r in reader.chunks(AuditFilter())] == [1, 2, 3, 4, 5]
    assert auditchain.verify(reader.connection).intact
    reader.close()


async def test_a_failed_flush_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    trail = AuditTrail(path)
    trail.record(_entry(1))
    blocker = sqlite3.connect(path, isolation_level=None, timeout=0.0)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock for longer than the writer waits
    trail._db.execute("PRAGMA busy_timeout = 10")
    assert await trail.flush() == 0
    assert trail.queued == 1
    blocker.execute("ROLLBACK")
    blocker.close()
    assert await trail.flush() == 1
    trail.close()


KEY = KeyRecord("4be1a2c3d4e5", Role.PLANNER, (), "team", 0, department="transport")


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    count_rows(7)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _fail(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


def _scope(query: bytes, *, key: str | None = "sck_x") -> Scope:
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    return {"type": "http", "method": "GET", "path": "/v1/latest", "query_string": query, "headers": headers}


async def _call(middleware: AuditMiddleware, scope: Scope) -> list[dict[str, object]]:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await middleware(scope, receive, send)  # type: ignore[arg-type]
    return sent


async def test_the_middleware_records_requests_with_a_valid_key_only(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "state.sqlite")
    known = {"sck_x": KEY}
    middleware = AuditMiddleware(_answer, lambda scope, key: known.get(key), lambda scope: trail, clock=lambda: 1.5)
    await _call(middleware, _scope(b"device=aq-1&metric=pm25&metric=no2"))
    await _call(middleware, _scope(b"device=aq-1", key=None))  # public: not audited
    await _call(middleware, _scope(b"device=aq-1", key="sck_unknown"))  # refused by the route, not audited here
    with pytest.raises(RuntimeError):
        await _call(AuditMiddleware(_fail, lambda s, k: KEY, lambda s: trail), _scope(b""))
    assert await trail.flush() == 2
    answered, failed = trail.reader.chunks(AuditFilter())
    assert answered.entry == AuditEntry(
        1500, KEY.key_id, "transport", "GET", "unmatched", '{"device":"aq-1","metric":["pm25","no2"]}', 7, 200
    )
    assert failed.entry.status == 500
    assert failed.entry.rows is None
    trail.close()


async def test_parameters_are_bounded(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "state.sqlite")
    middleware = AuditMiddleware(_answer, lambda s, k: KEY, lambda s: trail)
    query = "&".join(f"p{n}={'x' * 500}" for n in range(MAX_PARAMS + 5)).encode()
    await _call(middleware, _scope(query))
    await trail.flush()
    (record,) = trail.reader.chunks(AuditFilter())
    params = json.loads(record.entry.params)
    assert len(params) == MAX_PARAMS + 1
    assert params["…"] == 5
    assert len(params["p0"]) == 200
    trail.close()


async def test_a_full_queue_refuses_requests_with_a_key(tmp_path: Path) -> None:
    trail = AuditTrail(tmp_path / "state.sqlite", max_queued=1)
    trail.record(_entry(1))
    sent = await _call(AuditMiddleware(_answer, lambda s, k: KEY, lambda s: trail), _scope(b""))
    assert sent[0]["status"] == 503
    body = json.loads(sent[1]["body"])  # type: ignore[arg-type]
    assert body["type"] == "/problems/audit-unavailable"
    public = await _call(AuditMiddleware(_answer, lambda s, k: KEY, lambda s: trail), _scope(b"", key=None))
    assert public[0]["status"] == 200  # nothing to audit: answered
    trail.close()


def test_the_reader_filters_pages_newest_first_and_exports_in_chain_order(db: SqliteDatabase, tmp_path: Path) -> None:
    entries = [_entry(n, key="aaaaaaaaaaaa" if n % 2 else "bbbbbbbbbbbb") for n in range(1, 8)]
    entries.append(AuditEntry(T0 + 8, "cccccccccccc", None, "GET", "/v1/latest", "{}", None, 403))
    auditchain.append(db, entries)
    reader = AuditReader(tmp_path / "state.sqlite")
    assert [r.seq for r in reader.page(AuditFilter(), limit=3)] == [8, 7, 6]
    assert [r.seq for r in reader.page(AuditFilter(), limit=3, before_seq=6)] == [5, 4, 3]
    assert [r.seq for r in reader.page(AuditFilter(key_id="bbbbbbbbbbbb"), limit=10)] == [6, 4, 2]
    assert [r.seq for r in reader.page(AuditFilter(route="/v1/latest"), limit=10)] == [8]
    assert [r.seq for r in reader.page(AuditFilter(department="education"), limit=10)] == [7, 6, 5, 4, 3, 2, 1]
    assert [r.seq for r in reader.page(AuditFilter(start_ms=T0 + 3, end_ms=T0 + 5), limit=10)] == [4, 3]
    rows = list(csv.reader(io.StringIO("".join(reader.export(AuditFilter(), size=3)))))
    assert rows[0] == list(CSV_COLUMNS)
    assert [int(row[0]) for row in rows[1:]] == list(range(1, 9))
    assert rows[-1][3] == ""  # the city's own key
    assert rows[-1][7] == ""  # rows unknown
    reader.close()


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_audit_verify_and_export_on_the_command_line(
    db: SqliteDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTCITY_API_CITY_FILE", str(write_api_city(tmp_path / "city.json")))
    monkeypatch.setenv("SMARTCITY_API_STATE_FILE", str(tmp_path / "state.sqlite"))
    auditchain.append(db, [_entry(n) for n in range(1, 5)])
    intact = runner.invoke(_cli(), ["api", "audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "intact: 4 records; head 4" in intact.stdout
    out = tmp_path / "audit.csv"
    assert (
        runner.invoke(_cli(), ["api", "audit", "export", "--output", str(out), "--start", "2025-01-01"]).exit_code == 0
    )
    assert len(out.read_text().splitlines()) == 5
    db.execute("UPDATE audit SET status = 403 WHERE seq = 2")
    broken = runner.invoke(_cli(), ["api", "audit", "verify"])
    assert broken.exit_code == 1
    assert "broken at record 2" in broken.stderr
    monkeypatch.setenv("SMARTCITY_API_STATE_FILE", str(tmp_path / "missing.sqlite"))
    assert runner.invoke(_cli(), ["api", "audit", "verify"]).exit_code == 1
