"""The local spool: batches that could not reach InfluxDB, made durable on disk before their messages are acked.

SQLite in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL is fsynced, so an appended batch
survives a crash of the process or the machine. Batches are replayed oldest first and deleted after InfluxDB
answered 204 (or refused the points for good, which are then dead-lettered). SQLite calls block, so they run on
one dedicated worker thread; the event loop never waits on the disk.

When the disk cannot take more (full, I/O error, read-only), every SQLite or OS error of the spool leaves as one
:class:`SpoolError`, with the spool unchanged: the failed statement is rolled back, the counters are untouched, the
batches stored before are still there. The caller keeps the batch (it must not acknowledge its messages) and tries
again later; nothing here crashes the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import SpoolBusy, SpoolError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    points INTEGER NOT NULL,
    body BLOB NOT NULL,
    topics BLOB NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    id: int
    lines: list[str]
    topics: list[str]


class Spool:
    """Append-only queue of batches in ``<dir>/spool.sqlite``. Use as an async context manager or call close()."""

    def __init__(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._lock = os.open(directory / "spool.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SpoolError(f"cannot open the spool directory {directory}: {exc}") from exc
        # Two processes replaying one spool would each write and delete the same batches: refuse the second.
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise SpoolBusy(f"spool directory {directory} is in use by another gateway process") from None
        self.path = directory / "spool.sqlite"
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute(_SCHEMA)
                row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM batches").fetchone()
            except sqlite3.Error:
                self._db.close()
                raise
        except sqlite3.Error as exc:
            os.close(self._lock)
            raise _spool_error(f"cannot open the spool {self.path}", exc) from exc
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self.batches: int = row[0]
        self.depth: int = row[1]
        """Points waiting in the spool (the spool_depth gauge)."""

    async def __aenter__(self) -> Spool:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        try:
            self._db.close()
        finally:
            os.close(self._lock)  # releases the flock

    async def append(self, lines: list[str], topics: list[str]) -> None:
        """Store one batch durably (returns after fsync); :class:`SpoolError` when the disk cannot take it."""
        body = "\n".join(lines).encode()
        topic_blob = "\n".join(topics).encode()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._append, len(lines), body, topic_blob)
        self.batches += 1
        self.depth += len(lines)

    def _append(self, points: int, body: bytes, topics: bytes) -> None:
        with self._mapped(f"cannot spool a batch of {points} points"):
            self._db.execute("INSERT INTO batches (points, body, topics) VALUES (?, ?, ?)", (points, body, topics))

    async def oldest(self) -> SpooledBatch | None:
        """The batch spooled first, or None when the spool is empty."""
        if not self.batches:
            return None
        row = await asyncio.get_running_loop().run_in_executor(self._executor, self._oldest)
        if row is None:
            return None
        return SpooledBatch(row[0], row[1].decode().split("\n"), row[2].decode().split("\n"))

    def _oldest(self) -> tuple[int, bytes, bytes] | None:
        with self._mapped("cannot read the spool"):
            row: tuple[int, bytes, bytes] | None = self._db.execute(
                "SELECT id, body, topics FROM batches ORDER BY id LIMIT 1"
            ).fetchone()
        return row

    async def remove(self, batch: SpooledBatch) -> None:
        """Forget a batch once its points are in InfluxDB; :class:`SpoolError` (the batch stays) when the disk
        cannot take the deletion (in WAL mode a delete writes too)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._remove, batch.id)
        self.batches -= 1
        self.depth -= len(batch.lines)

    def _remove(self, batch_id: int) -> None:
        with self._mapped(f"cannot remove spooled batch {batch_id}"):
            self._db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))

    @contextlib.contextmanager
    def _mapped(self, doing: str) -> Iterator[None]:
        """Turn SQLite's errors into :class:`SpoolError`, rolling back whatever the failed statement left open."""
        try:
            yield
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.rollback()
            raise _spool_error(doing, exc) from exc


def _spool_error(doing: str, exc: sqlite3.Error) -> SpoolError:
    name = getattr(exc, "sqlite_errorname", type(exc).__name__)
    return SpoolError(f"{doing}: {exc} ({name})", full=name == "SQLITE_FULL")
