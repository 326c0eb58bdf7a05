"""The audit trail's reading side: records by key, department, route and time, newest first, and CSV exports.

Both ``GET /v1/audit`` and ``smartcity api audit export`` read through :class:`AuditReader`, on a connection of its
own (the API calls it from a worker thread, so a large page or export never holds up the event loop).
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from services.api import auditchain
from services.api.auditchain import AuditRecord
from services.api.schemas import iso
from services.api.statedb import DatabaseError, Location, StateDatabase, StateError, open_database

CSV_COLUMNS = (
    "seq",
    "time",
    "key_id",
    "department",
    "method",
    "route",
    "params",
    "rows",
    "status",
    "prev_hash",
    "hash",
)
"""The export's header: every stored field, the hashes too (a copy can be checked against the database)."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    key_id: str | None = None
    department: str | None = None
    route: str | None = None
    """A route template, exactly as recorded (``/v1/history``)."""
    start_ms: int | None = None
    """Inclusive, on the request's arrival time."""
    end_ms: int | None = None
    """Exclusive."""

    def where(self) -> tuple[str, list[str | int]]:
        clauses: list[str] = []
        params: list[str | int] = []
        for column, value in (("key_id", self.key_id), ("department", self.department), ("route", self.route)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.start_ms is not None:
            clauses.append("time_ms >= ?")
            params.append(self.start_ms)
        if self.end_ms is not None:
            clauses.append("time_ms < ?")
            params.append(self.end_ms)
        return (" AND ".join(clauses) or "1 = 1"), params


def item(record: AuditRecord) -> dict[str, object]:
    """A record as ``/v1/audit`` lists it."""
    entry = record.entry
    return {
        "seq": record.seq,
        "time": iso(entry.time_ms),
        "key_id": entry.key_id,
        "department": entry.department,
        "method": entry.method,
        "route": entry.route,
        "params": entry.params,
        "rows": entry.rows,
        "status": entry.status,
        "hash": record.hash,
    }


def csv_row(record: AuditRecord) -> list[object]:
    entry = record.entry
    fields = (entry.key_id, entry.department or "", entry.method, entry.route, entry.params)
    rows = "" if entry.rows is None else entry.rows
    return [record.seq, iso(entry.time_ms), *fields, rows, entry.status, record.prev_hash, record.hash]


class AuditReader:
    """Reads the ``audit`` table of the state database at ``location`` (creating it when missing)."""

    def __init__(self, location: Location) -> None:
        self._db = open_database(location)
        self.path = self._db.where
        self._lock = threading.Lock()
        try:
            auditchain.create(self._db)
        except DatabaseError as exc:
            self._db.close()
            raise StateError(f"cannot open the audit trail in {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def connection(self) -> StateDatabase:
        return self._db

    def page(self, wanted: AuditFilter, *, limit: int, before_seq: int | None = None) -> list[AuditRecord]:
        """Up to ``limit`` records matching ``wanted``, newest first, older than ``before_seq`` when given."""
        where, params = wanted.where()
        if before_seq is not None:
            where += " AND seq < ?"
            params.append(before_seq)
        query = f"SELECT {auditchain.COLUMNS} FROM audit WHERE {where} ORDER BY seq DESC LIMIT ?"
        with self._lock:
            try:
                rows = self._db.execute(query, (*params, limit)).fetchall()
            except DatabaseError as exc:
                raise StateError(f"cannot read the audit trail in {self.path}: {exc}") from exc
        return [auditchain.record_of(row) for row in rows]

    def chunks(self, wanted: AuditFilter, *, after_seq: int = 0, size: int = 5_000) -> list[AuditRecord]:
        """The next ``size`` matching records after ``after_seq``, oldest first (what an export reads)."""
        where, params = wanted.where()
        query = f"SELECT {auditchain.COLUMNS} FROM audit WHERE {where} AND seq > ? ORDER BY seq LIMIT ?"
        with self._lock:
            try:
                rows = self._db.execute(query, (*params, after_seq, size)).fetchall()
            except DatabaseError as exc:
                raise StateError(f"cannot read the audit trail in {self.path}: {exc}") from exc
        return [auditchain.record_of(row) for row in rows]

    def export(self, wanted: AuditFilter, *, size: int = 5_000) -> Iterator[str]:
        """The matching records as CSV text in chain order, header first, a chunk of rows at a time."""
        yield csv_text([list(CSV_COLUMNS)])
        after = 0
        while records := self.chunks(wanted, after_seq=after, size=size):
            yield csv_text([csv_row(record) for record in records])
            after = records[-1].seq


def csv_text(rows: list[list[object]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()
