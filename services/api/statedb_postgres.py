"""The state database on PostgreSQL (psycopg 3): what several API replicas share.

One connection in autocommit mode, so a statement outside :meth:`PostgresDatabase.transaction` commits on its
own, as it does on SQLite. psycopg connections are thread-safe (one statement at a time), which the audit reader
relies on when it runs from a worker thread.

The stores' SQL is translated here: ``?`` placeholders become ``%s``; in schema statements ``INTEGER`` becomes
``BIGINT`` (SQLite's integers are 64-bit, PostgreSQL's ``INTEGER`` is 32-bit and milliseconds since the epoch do not
fit). Schema creation and exclusive writes take a transaction-scoped advisory lock, so replicas that start together
do not race on ``CREATE TABLE IF NOT EXISTS`` and appends to the audit chain queue behind each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import psycopg

from services.api.statedb import DatabaseError, Dialect, Params, Rows, StateError

_SCHEMA_LOCK = "smartcity-api-schema"
_INTEGER = re.compile(r"\bINTEGER\b")


def redacted(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    # The stores' SQL holds no literal "?" or "%": a plain replacement is exact.
    return sql.replace("?", "%s")


class PostgresDatabase:
    """A connection to the PostgreSQL database at ``url`` (``postgresql://user:password@host:port/db``)."""

    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: int = 10) -> None:
        self.where = redacted(url)
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout_s)
        except psycopg.Error as exc:
            raise StateError(f"cannot open the state database {self.where}: {exc}") from exc

    def execute(self, sql: str, params: Params = ()) -> Rows:
        try:
            if params:
                return cast(Rows, self._db.execute(_placeholders(sql), tuple(params)))
            return cast(Rows, self._db.execute(sql.encode()))  # bytes: run as is, no placeholder parsing
        except psycopg.Error as exc:
            raise DatabaseError(str(exc).strip()) from exc

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        try:
            with self._db.cursor() as cursor:
                cursor.executemany(_placeholders(sql), [tuple(row) for row in rows])
        except psycopg.Error as exc:
            raise DatabaseError(str(exc).strip()) from exc

    @contextmanager
    def _transaction(self, lock: str) -> Iterator[None]:
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
                yield
        except psycopg.Error as exc:
            raise DatabaseError(str(exc).strip()) from exc

    def transaction(self, lock: str) -> AbstractContextManager[None]:
        return self._transaction(lock)

    def create(self, statements: Sequence[str]) -> None:
        with self._transaction(_SCHEMA_LOCK):
            for statement in statements:
                self.execute(_INTEGER.sub("BIGINT", statement))

    def columns(self, table: str) -> set[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ?",
            (table,),
        ).fetchall()
        return {str(row[0]) for row in rows}

    def close(self) -> None:
        self._db.close()
