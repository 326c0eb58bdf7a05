"""The audit trail's table and its hash chain: appending records and verifying that none was changed or removed.

Each record is one request made with a key (:mod:`services.api.audit` collects them). Records are numbered
``seq`` = 1, 2, 3 ... in the order they were appended; each stores the SHA-256 of its canonical form (a JSON array
of its fields in a fixed order, ASCII only, no spaces) followed by the previous record's hash (64 zeros for the
first). Changing any field of a record breaks its own hash; removing a record leaves a gap in ``seq`` and breaks
the next record's link; so does reordering. :func:`verify` walks the chain and names the first broken record.

What a chain cannot show on its own: records cut off at the end (the last hash is then simply earlier), and a
chain recomputed by someone who can write the file. ``smartcity api audit verify`` prints the head (last ``seq``
and hash): kept elsewhere, it pins what the trail held at that time.

Appending takes the write lock first (SQLite's ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock: see
:mod:`services.api.statedb`) and reads the head inside that transaction, so several API processes on one state
database extend one chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from services.api.statedb import StateDatabase

GENESIS = "0" * 64
"""The previous hash of the first record."""

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS audit (
        seq INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        department TEXT,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        params TEXT NOT NULL,
        rows INTEGER,
        status INTEGER NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS audit_by_key ON audit (key_id, seq)",
    "CREATE INDEX IF NOT EXISTS audit_by_department ON audit (department, seq)",
    "CREATE INDEX IF NOT EXISTS audit_by_time ON audit (time_ms)",
)
COLUMNS = "seq, time_ms, key_id, department, method, route, params, rows, status, prev_hash, hash"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One request, before it has a place in the chain."""

    time_ms: int
    """When the request arrived."""
    key_id: str
    department: str | None
    method: str
    route: str
    """The route template (``/v1/devices/{device_id}``), ``unmatched`` for a path no route has."""
    params: str
    """Path and query parameters as compact JSON (``{"device":"aq-1","metric":"pm25"}``)."""
    rows: int | None
    """Rows (values, points, groups, records) the answer held, where the route counts them."""
    status: int


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored record: an entry with its place and hashes."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


def canonical(seq: int, entry: AuditEntry) -> bytes:
    """The bytes a record's hash covers (with the previous hash after them)."""
    fields = [
        seq,
        entry.time_ms,
        entry.key_id,
        entry.department,
        entry.method,
        entry.route,
        entry.params,
        entry.rows,
        entry.status,
    ]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()


def chain_hash(seq: int, entry: AuditEntry, prev_hash: str) -> str:
    return hashlib.sha256(canonical(seq, entry) + prev_hash.encode()).hexdigest()


Row = tuple[int, int, str, str | None, str, str, str, int | None, int, str, str]


def record_of(row: Row) -> AuditRecord:
    seq, time_ms, key_id, department, method, route, params, rows, status, prev_hash, digest = row
    entry = AuditEntry(time_ms, key_id, department, method, route, params, rows, status)
    return AuditRecord(seq, entry, prev_hash, digest)


def create(db: StateDatabase) -> None:
    db.create(SCHEMA)


def append(db: StateDatabase, entries: Sequence[AuditEntry]) -> int:
    """Append ``entries`` to the chain in one transaction; returns the last ``seq`` (a failure raises
    :class:`~services.api.statedb.DatabaseError` and appends nothing)."""
    with db.transaction("audit"):
        head = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(head[0]), str(head[1])) if head is not None else (0, GENESIS)
        rows = []
        for entry in entries:
            seq += 1
            digest = chain_hash(seq, entry, prev)
            rows.append(
                (
                    seq,
                    entry.time_ms,
                    entry.key_id,
                    entry.department,
                    entry.method,
                    entry.route,
                    entry.params,
                    entry.rows,
                    entry.status,
                    prev,
                    digest,
                )
            )
            prev = digest
        db.executemany(f"INSERT INTO audit ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return seq


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`verify` found: ``broken_seq`` is None for an intact chain."""

    records: int
    """Records checked (up to the break)."""
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_seq is None


def _rows(db: StateDatabase, chunk: int) -> Iterator[Row]:
    cursor = db.execute(f"SELECT {COLUMNS} FROM audit ORDER BY seq")
    while batch := cursor.fetchmany(chunk):
        yield from batch


def verify(db: StateDatabase, *, chunk: int = 10_000) -> Verdict:
    """Walk the chain from its first record: the first record whose number, link or hash is wrong breaks it."""
    expected, prev, checked = 1, GENESIS, 0
    for row in _rows(db, chunk):
        record = record_of(row)
        if record.seq != expected:
            missing = f"record {expected}" if record.seq == expected + 1 else f"records {expected} to {record.seq - 1}"
            reason = f"{missing} missing before record {record.seq}"
            return Verdict(checked, expected - 1, prev, expected, reason)
        if record.prev_hash != prev:
            reason = "its link to the previous record does not match that record's hash"
            return Verdict(checked, expected - 1, prev, record.seq, reason)
        if chain_hash(record.seq, record.entry, prev) != record.hash:
            return Verdict(checked, expected - 1, prev, record.seq, "its content does not match its hash")
        checked += 1
        expected, prev = record.seq + 1, record.hash
    return Verdict(checked, expected - 1, prev)
