"""The local spool: batches that could not reach InfluxDB, made durable on disk before their messages are acked.

SQLite in WAL mode with ``synchronous=FULL``: a commit returns only after the WAL is fsynced, so an appended batch
survives a crash of the process or the machine. Batches are replayed oldest first and deleted after InfluxDB
answered 204 (or refused the points for good, which are then dead-lettered). SQLite calls block, so they run on
one dedicated worker thread; the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    points INTEGER NOT NULL,
    body BLOB NOT NULL,
    topics BLOB NOT NULL
)
"""


class SpoolBusy(RuntimeError):
    """Another gateway process holds this spool directory (each replica needs its own)."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    id: int
    lines: list[str]
    topics: list[str]


class Spool:
    """Append-only queue of batches in ``<dir>/spool.sqlite``. Use as an async context manager or call close()."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # Two processes replaying one spool would each write and delete the same batches: refuse the second.
        self._lock = os.open(directory / "spool.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise SpoolBusy(f"spool directory {directory} is in use by another gateway process") from None
        self.path = directory / "spool.sqlite"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(points), 0) FROM batches").fetchone()
        self.batches: int = row[0]
        self.depth: int = row[1]
        """Points waiting in the spool (the spool_depth gauge)."""

    async def __aenter__(self) -> Spool:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._db.close()
        os.close(self._lock)  # releases the flock

    async def append(self, lines: list[str], topics: list[str]) -> None:
        """Store one batch durably (returns after fsync)."""
        body = "\n".join(lines).encode()
        topic_blob = "\n".join(topics).encode()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._append, len(lines), body, topic_blob)
        self.batches += 1
        self.depth += len(lines)

    def _append(self, points: int, body: bytes, topics: bytes) -> None:
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
        row: tuple[int, bytes, bytes] | None = self._db.execute(
            "SELECT id, body, topics FROM batches ORDER BY id LIMIT 1"
        ).fetchone()
        return row

    async def remove(self, batch: SpooledBatch) -> None:
        """Forget a batch once its points are in InfluxDB."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._remove, batch.id)
        self.batches -= 1
        self.depth -= len(batch.lines)

    def _remove(self, batch_id: int) -> None:
        self._db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
