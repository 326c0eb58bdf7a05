"""The command log: every command the API sent, who sent it and what became of it, in the state database.

A table beside the API keys in the same state database (:mod:`services.api.statedb`: SQLite or PostgreSQL). One
command is one row, keyed by its id; its state moves
``sent`` -> ``acked`` / ``rejected`` (the device's ``cmd-ack``) or ``sent`` -> ``expired`` (no ack before its
expiry). An ack that arrives after the expiry still records the device's answer: the broker delivered the command
just in time, and the device's word beats the API's clock.

Writes are one short statement each (an insert per command, an update per ack, one update per expiry sweep); with
SQLite's WAL and ``synchronous=NORMAL`` a commit does not wait for the disk, and a PostgreSQL statement on a nearby
server takes a fraction of a millisecond, so they run on the event loop like the key look-ups do.

Several API replicas share one log: each follows every ack (a subscription of its own), and :meth:`settle` changes
a row only while it is still open, so the first replica to see an ack records it and the others find it answered.
Whichever replica a client asks reads the same row.

:class:`CommandLog` is the seam; :class:`SqlCommandLog` the real one (the unit tests run it on both engines).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Protocol

from services.api.statedb import DatabaseError, StateDatabase, StateError

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS commands (
        command_id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        name TEXT NOT NULL,
        args TEXT NOT NULL,
        key_id TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT NOT NULL,
        sent_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        ack_ms INTEGER,
        device_ms INTEGER
    )
    """,
    "CREATE INDEX IF NOT EXISTS commands_by_device ON commands (device_id, sent_ms, command_id)",
    "CREATE INDEX IF NOT EXISTS commands_open ON commands (state, expires_ms)",
)
_COLUMNS = (
    "command_id, device_id, name, args, key_id, state, detail, sent_ms, expires_ms, updated_ms, ack_ms, device_ms"
)


class CommandState(enum.StrEnum):
    SENT = "sent"
    """Published; the broker took it (PUBACK); no answer from the device yet."""
    ACKED = "acked"
    """The device applied it."""
    REJECTED = "rejected"
    """The device refused it (``detail`` says why)."""
    EXPIRED = "expired"
    """No answer before its expiry: the broker dropped it undelivered, or the device never answered."""


_SETTLEABLE = (CommandState.SENT.value, CommandState.EXPIRED.value)


@dataclass(frozen=True, slots=True)
class CommandRecord:
    command_id: str
    device_id: str
    name: str
    args: dict[str, int | str]
    key_id: str
    """The API key that sent it."""
    state: CommandState
    detail: str
    sent_ms: int
    expires_ms: int
    updated_ms: int
    ack_ms: int | None = None
    """When the device's ack reached the API."""
    device_ms: int | None = None
    """The device's own time in its ack."""


def _record(row: tuple[str, str, str, str, str, str, str, int, int, int, int | None, int | None]) -> CommandRecord:
    command_id, device_id, name, args, key_id, state, detail, sent_ms, expires_ms, updated_ms, ack_ms, device_ms = row
    return CommandRecord(
        command_id,
        device_id,
        name,
        json.loads(args),
        key_id,
        CommandState(state),
        detail,
        sent_ms,
        expires_ms,
        updated_ms,
        ack_ms,
        device_ms,
    )


class CommandLog(Protocol):
    """Where the API records its commands."""

    def add(self, record: CommandRecord) -> None: ...

    def remove(self, command_id: str) -> None:
        """Forget a command that was never sent (the broker refused it)."""
        ...

    def get(self, command_id: str) -> CommandRecord | None: ...

    def for_device(self, device_id: str, *, limit: int, before: tuple[int, str] | None = None) -> list[CommandRecord]:
        """A device's commands, newest first, strictly older than ``before`` (sent_ms, command_id) when given."""
        ...

    def settle(
        self, command_id: str, device_id: str, state: CommandState, detail: str, ack_ms: int, device_ms: int
    ) -> CommandRecord | None:
        """Record the device's answer to a sent (or expired) command of ``device_id``; None when there is no such
        command of that device or it was answered already."""
        ...

    def expire_due(self, now_ms: int) -> int:
        """Mark every sent command whose expiry has passed as expired; returns how many."""
        ...


class SqlCommandLog:
    """The ``commands`` table of the state database open on ``db`` (the connection of a
    :class:`~services.api.state.StateStore`)."""

    def __init__(self, db: StateDatabase, path: object = None) -> None:
        self._db = db
        self.path = db.where if path is None else path
        try:
            db.create(_SCHEMA)
        except DatabaseError as exc:
            raise StateError(f"cannot create the command log in {self.path}: {exc}") from exc

    def _fail(self, what: str, exc: DatabaseError) -> StateError:
        return StateError(f"cannot {what} the command log in {self.path}: {exc}")

    def add(self, record: CommandRecord) -> None:
        values = (
            record.command_id,
            record.device_id,
            record.name,
            json.dumps(record.args, separators=(",", ":"), ensure_ascii=False),
            record.key_id,
            record.state.value,
            record.detail,
            record.sent_ms,
            record.expires_ms,
            record.updated_ms,
            record.ack_ms,
            record.device_ms,
        )
        try:
            self._db.execute(f"INSERT INTO commands ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        except DatabaseError as exc:
            raise self._fail("write to", exc) from exc

    def remove(self, command_id: str) -> None:
        try:
            self._db.execute("DELETE FROM commands WHERE command_id = ?", (command_id,))
        except DatabaseError as exc:
            raise self._fail("write to", exc) from exc

    def get(self, command_id: str) -> CommandRecord | None:
        try:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM commands WHERE command_id = ?", (command_id,)).fetchone()
        except DatabaseError as exc:
            raise self._fail("read", exc) from exc
        return None if row is None else _record(row)

    def for_device(self, device_id: str, *, limit: int, before: tuple[int, str] | None = None) -> list[CommandRecord]:
        query = f"SELECT {_COLUMNS} FROM commands WHERE device_id = ?"
        params: tuple[str | int, ...] = (device_id,)
        if before is not None:
            query += " AND (sent_ms < ? OR (sent_ms = ? AND command_id < ?))"
            params += (before[0], before[0], before[1])
        query += " ORDER BY sent_ms DESC, command_id DESC LIMIT ?"
        try:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        except DatabaseError as exc:
            raise self._fail("read", exc) from exc
        return [_record(row) for row in rows]

    def settle(
        self, command_id: str, device_id: str, state: CommandState, detail: str, ack_ms: int, device_ms: int
    ) -> CommandRecord | None:
        try:
            cursor = self._db.execute(
                "UPDATE commands SET state = ?, detail = ?, ack_ms = ?, device_ms = ?, updated_ms = ?"
                " WHERE command_id = ? AND device_id = ? AND state IN (?, ?)",
                (state.value, detail, ack_ms, device_ms, ack_ms, command_id, device_id, *_SETTLEABLE),
            )
        except DatabaseError as exc:
            raise self._fail("write to", exc) from exc
        return self.get(command_id) if cursor.rowcount else None

    def expire_due(self, now_ms: int) -> int:
        try:
            cursor = self._db.execute(
                "UPDATE commands SET state = ?, detail = ?, updated_ms = ? WHERE state = ? AND expires_ms <= ?",
                (
                    CommandState.EXPIRED.value,
                    "no answer from the device before the command expired",
                    now_ms,
                    CommandState.SENT.value,
                    now_ms,
                ),
            )
        except DatabaseError as exc:
            raise self._fail("write to", exc) from exc
        return cursor.rowcount
