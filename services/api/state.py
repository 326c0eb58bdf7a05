"""The API's state: API keys here; the command log, :mod:`services.api.commandlog`; grants,
:mod:`services.api.grants`; the audit trail, :mod:`services.api.auditchain`. All of it lives in one SQL database
(:mod:`services.api.statedb`): an SQLite file in WAL mode on one node, PostgreSQL when several API replicas share it.

Database calls block. The API reads one key by primary key per authenticated request (tens of microseconds, and
:class:`services.api.deps.KeyRing` caches the answer for a few seconds), and the CLI writes keys from another
process: WAL lets readers and that writer proceed without waiting on each other, and ``busy_timeout`` covers the
short moment of a concurrent commit.

:class:`KeyStore` is the seam the API uses; :class:`StateStore` is the real one, ``tests`` hold an in-memory twin.
"""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import Protocol, Self

from services.api.keys import KeyRecord, Role, new_key
from services.api.statedb import DatabaseError, Location, StateDatabase, StateError, open_database

__all__ = ["KeyStore", "StateError", "StateStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    role TEXT NOT NULL,
    districts TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER,
    department TEXT
)
"""
_MIGRATIONS = (("department", "ALTER TABLE api_keys ADD COLUMN department TEXT"),)
"""Columns added since the table was first shipped, and how an older database gets them: tables are created with
``CREATE TABLE IF NOT EXISTS``, so a database made by an earlier version keeps its table and gains the column
here (NULL for the rows it holds: a key without a department is the city's own)."""


class KeyStore(Protocol):
    """Where API keys live."""

    def find(self, key_id: str) -> tuple[KeyRecord, str] | None:
        """The record and stored digest of ``key_id``, revoked or not; None when there is none."""
        ...

    def create(
        self, role: Role, districts: tuple[str, ...] = (), name: str = "", department: str | None = None
    ) -> tuple[KeyRecord, str]:
        """A new key: its record and the key itself (shown once, never stored)."""
        ...

    def list(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        ...

    def revoke(self, key_id: str) -> KeyRecord | None:
        """Revoke ``key_id`` (revoking twice keeps the first time); None when there is no such key."""
        ...


def _record(row: tuple[str, str, str, str, str, int, int | None, str | None]) -> tuple[KeyRecord, str]:
    key_id, stored, role, districts, name, created_ms, revoked_ms, department = row
    record = KeyRecord(key_id, Role(role), tuple(json.loads(districts)), name, created_ms, revoked_ms, department)
    return record, stored


_COLUMNS = "key_id, digest, role, districts, name, created_ms, revoked_ms, department"


def _migrate(db: StateDatabase) -> None:
    present = db.columns("api_keys")
    for column, statement in _MIGRATIONS:
        if column not in present:
            db.execute(statement)


class StateStore:
    """The state database at ``location``: an SQLite file (created with its directory when missing) or a
    ``postgresql://`` URL."""

    def __init__(self, location: Location) -> None:
        self._db = open_database(location)
        self.path = self._db.where
        """Where the state lives, for messages (a file, or the server's URL without its password)."""
        try:
            self._db.create([_SCHEMA])
            _migrate(self._db)
        except DatabaseError as exc:
            self._db.close()
            raise StateError(f"cannot open the state database {self.path}: {exc}") from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @property
    def connection(self) -> StateDatabase:
        """The open database, for the other tables it holds (the command log, grants)."""
        return self._db

    def find(self, key_id: str) -> tuple[KeyRecord, str] | None:
        try:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        except DatabaseError as exc:
            raise StateError(f"cannot read API keys from {self.path}: {exc}") from exc
        return None if row is None else _record(row)

    def create(
        self, role: Role, districts: tuple[str, ...] = (), name: str = "", department: str | None = None
    ) -> tuple[KeyRecord, str]:
        key_id, key, stored = new_key()
        created_ms = int(time.time() * 1000)
        record = KeyRecord(key_id, role, tuple(sorted(set(districts))), name, created_ms, department=department)
        try:
            self._db.execute(
                f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                (key_id, stored, role.value, json.dumps(list(record.districts)), name, created_ms, department),
            )
        except DatabaseError as exc:
            raise StateError(f"cannot store the API key in {self.path}: {exc}") from exc
        return record, key

    def list(self) -> list[KeyRecord]:
        try:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_ms, key_id").fetchall()
        except DatabaseError as exc:
            raise StateError(f"cannot read API keys from {self.path}: {exc}") from exc
        return [_record(row)[0] for row in rows]

    def revoke(self, key_id: str) -> KeyRecord | None:
        try:
            self._db.execute(
                "UPDATE api_keys SET revoked_ms = ? WHERE key_id = ? AND revoked_ms IS NULL",
                (int(time.time() * 1000), key_id),
            )
        except DatabaseError as exc:
            raise StateError(f"cannot revoke the API key in {self.path}: {exc}") from exc
        found = self.find(key_id)
        return None if found is None else found[0]
