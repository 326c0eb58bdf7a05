"""The SQL database that holds the API's state, behind one seam: SQLite on one node, PostgreSQL for many.

The stores (API keys :mod:`services.api.state`, the command log :mod:`services.api.commandlog`, grants
:mod:`services.api.grants`, the audit trail :mod:`services.api.auditchain`, shared rate limits
:mod:`services.api.ratelimit`) write their SQL once, with ``?`` placeholders and types both engines accept, and run
it through a :class:`StateDatabase`. What differs between the engines lives in the two adapters:

- :class:`SqliteDatabase` (here): one file in WAL mode; an exclusive write is ``BEGIN IMMEDIATE``.
- :class:`services.api.statedb_postgres.PostgresDatabase`: psycopg 3 in autocommit; ``?`` becomes ``%s``,
  ``INTEGER`` columns become ``BIGINT`` (milliseconds since the epoch pass 2**31), an exclusive write takes a
  transaction-scoped advisory lock, and schema creation runs under one so replicas starting together do not race.

Where the state lives is a :data:`Location`: a :class:`~pathlib.Path` (an SQLite file) or a ``postgresql://`` URL
(``SMARTCITY_API_STATE_URL``). Each adapter translates its driver's errors into :class:`DatabaseError` once.

Error tree::

    StateError            the state cannot be opened or used (what the CLI and the API report)
     └── DatabaseError    a statement failed in the engine (locked, unreachable, constraint, disk)
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]
Location = Path | str
"""An SQLite file, or a ``postgresql://`` URL."""
Params = Sequence[object]


class StateError(RuntimeError):
    """The state database cannot be opened or used (permissions, disk, not an SQLite file, unreachable server)."""


class DatabaseError(StateError):
    """One statement failed in the database engine (the message names the engine's reason)."""


class Rows(Protocol):
    """What a statement returns: its rows and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int) -> list[Any]: ...


class StateDatabase(Protocol):
    """One connection to the state database (safe to share between threads; a statement runs at a time)."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def where(self) -> str:
        """The file or server, for messages (never a password)."""
        ...

    def execute(self, sql: str, params: Params = ()) -> Rows: ...

    def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    def transaction(self, lock: str) -> AbstractContextManager[None]:
        """Statements inside run in one transaction that holds ``lock`` against other writers of it."""
        ...

    def create(self, statements: Sequence[str]) -> None:
        """Run schema statements (``CREATE ... IF NOT EXISTS``), translated for the engine."""
        ...

    def columns(self, table: str) -> set[str]:
        """The column names of ``table``."""
        ...

    def close(self) -> None: ...


def is_postgres_url(location: Location) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_database(location: Location) -> StateDatabase:
    """A new connection to the state at ``location``: a ``postgresql://`` URL, else an SQLite file path."""
    if is_postgres_url(location):
        from services.api.statedb_postgres import PostgresDatabase

        return PostgresDatabase(str(location))
    return SqliteDatabase.open(Path(location))


class SqliteDatabase:
    """An SQLite connection in autocommit mode (``isolation_level=None``)."""

    dialect: Dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection, where: str) -> None:
        self._db = connection
        self.where = where
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path) -> SqliteDatabase:
        """The file at ``path`` (created with its directory when missing), WAL, ``synchronous=NORMAL``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open the state database {path}: {exc}") from exc
        return cls(db, str(path))

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def execute(self, sql: str, params: Params = ()) -> Rows:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(params))
            except sqlite3.Error as exc:
                raise DatabaseError(str(exc)) from exc

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        with self._lock:
            try:
                self._db.executemany(sql, [tuple(row) for row in rows])
            except sqlite3.Error as exc:
                raise DatabaseError(str(exc)) from exc

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self.execute("BEGIN IMMEDIATE")  # the write lock first: every writer of the file waits its turn
            try:
                yield
            except BaseException:
                self.execute("ROLLBACK")
                raise
            self.execute("COMMIT")

    def transaction(self, lock: str) -> AbstractContextManager[None]:
        return self._transaction()  # SQLite has one write lock for the whole file

    def create(self, statements: Sequence[str]) -> None:
        for statement in statements:
            self.execute(statement)

    def columns(self, table: str) -> set[str]:
        return {str(row[1]) for row in self.execute(f"PRAGMA table_info({table})").fetchall()}

    def close(self) -> None:
        with self._lock:
            self._db.close()
