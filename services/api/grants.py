"""Grants: a department lets another read data it owns, until an expiry, in the state database.

A grant names the granting department (``from``), the receiving one (``to``) and what it covers: some of the
granting department's metrics, some of its facility kinds, or (neither given) everything it owns. Every grant
expires (at most :data:`MAX_GRANT_DAYS` ahead) and can be revoked before. :mod:`services.api.access` turns the live
grants of a department into what its keys may read.

The ``grants`` table sits beside the API keys in the same state database (SQLite or PostgreSQL). Triggers count
every change to it in ``state_versions`` (also one made by hand with ``sqlite3`` or ``psql``), so a running API (any
replica) notices a grant added or revoked by the CLI with one primary-key read instead of re-reading the grants.

:class:`GrantStore` is the store; :func:`check_grant` and :func:`parse_expiry` validate what an operator asks for.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.api.statedb import DatabaseError, StateDatabase, StateError
from smartcity.city.model import Department, FacilityKind
from smartcity.contract.metrics import METRICS

MAX_GRANT_DAYS = 731
"""The longest a grant may run: two years. A grant must end; a standing need is granted again."""

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS grants (
        grant_id TEXT PRIMARY KEY,
        from_department TEXT NOT NULL,
        to_department TEXT NOT NULL,
        metrics TEXT NOT NULL,
        facility_kinds TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    )
    """,
    "CREATE INDEX IF NOT EXISTS grants_to ON grants (to_department, expires_ms)",
    "CREATE TABLE IF NOT EXISTS state_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
)
_SQLITE_TRIGGERS = tuple(
    f"""
        CREATE TRIGGER IF NOT EXISTS grants_{event.lower()} AFTER {event} ON grants BEGIN
            INSERT INTO state_versions (name, version) VALUES ('grants', 1)
            ON CONFLICT (name) DO UPDATE SET version = version + 1;
        END
        """
    for event in ("INSERT", "UPDATE", "DELETE")
)
_POSTGRES_TRIGGERS = (
    """
    CREATE OR REPLACE FUNCTION smartcity_grants_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO state_versions (name, version) VALUES ('grants', 1)
        ON CONFLICT (name) DO UPDATE SET version = state_versions.version + 1;
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER grants_changed AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH STATEMENT EXECUTE FUNCTION smartcity_grants_changed()
    """,
)
_COLUMNS = "grant_id, from_department, to_department, metrics, facility_kinds, created_ms, expires_ms, revoked_ms"
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_ISO_DURATION = re.compile(r"^P(?:(\d{1,6})W)?(?:(\d{1,6})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,6})S)?)?$")
_KINDS = frozenset(kind.value for kind in FacilityKind)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class GrantError(ValueError):
    """A grant that cannot be made as asked (unknown department, something the granter does not own, a bad
    expiry); the message says what."""


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    from_department: str
    to_department: str
    metrics: tuple[str, ...]
    """Metrics of the granting department; empty with no facility kinds: everything it owns."""
    facility_kinds: tuple[FacilityKind, ...]
    """Facility kinds of the granting department: every reading at their facilities."""
    created_ms: int
    expires_ms: int
    revoked_ms: int | None = None

    def live(self, now_ms: int) -> bool:
        return self.revoked_ms is None and now_ms < self.expires_ms

    def status(self, now_ms: int) -> str:
        if self.revoked_ms is not None:
            return "revoked"
        return "active" if now_ms < self.expires_ms else "expired"

    @property
    def scope(self) -> str:
        """What the grant covers, in words: ``metrics occupied``, ``facility kinds school``, ``everything``."""
        if self.metrics:
            return "metrics " + ",".join(self.metrics)
        if self.facility_kinds:
            return "facility kinds " + ",".join(kind.value for kind in self.facility_kinds)
        return "everything"


def parse_expiry(text: str, now_ms: int) -> int:
    """The expiry in ms since the epoch: an ISO 8601 time (UTC when it has no offset; a date means its start), a
    duration from now (``90d``, ``12h``, ``2w``, or ISO 8601 ``P30D``, ``PT12H``). It must lie in the future and
    at most :data:`MAX_GRANT_DAYS` ahead."""
    text = text.strip()
    seconds: int | None = None
    if match := _DURATION.match(text):
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    elif (match := _ISO_DURATION.match(text)) and text not in ("P", "PT") and not text.endswith("T"):
        weeks, days, hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = int(timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=secs).total_seconds())
    if seconds is not None:
        expires_ms = now_ms + seconds * 1000
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise GrantError(
                f"--expires {text[:80]!r}: not an ISO 8601 time (2025-06-30T00:00:00Z) or a duration (90d, 12h, P30D)"
            ) from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        expires_ms = int(moment.timestamp() * 1000)
    if expires_ms <= now_ms:
        raise GrantError(f"--expires {text[:80]!r}: lies in the past")
    if expires_ms > now_ms + MAX_GRANT_DAYS * 86_400_000:
        raise GrantError(f"--expires {text[:80]!r}: a grant runs at most {MAX_GRANT_DAYS} days")
    return expires_ms


def check_grant(
    departments: Sequence[Department],
    from_department: str,
    to_department: str,
    metrics: Sequence[str] = (),
    facility_kinds: Sequence[str] = (),
) -> tuple[tuple[str, ...], tuple[FacilityKind, ...]]:
    """The metrics and facility kinds of a grant the city's ``departments`` allow, sorted and without repeats;
    :class:`GrantError` naming the first problem otherwise."""
    by_id = {department.id: department for department in departments}
    known = ", ".join(by_id) or "none"
    for option, ident in (("--from", from_department), ("--to", to_department)):
        if ident not in by_id:
            raise GrantError(f"{option} {ident[:80]!r}: not a department of the city (it has: {known})")
    if from_department == to_department:
        raise GrantError(f"--from and --to are both {from_department!r}: a department reads its own data already")
    if metrics and facility_kinds:
        raise GrantError("give --metrics or --facility-kinds, not both (two grants grant both)")
    granter = by_id[from_department]
    for metric in metrics:
        if metric not in METRICS:
            raise GrantError(f"--metrics {metric[:80]!r}: not a metric of the registry")
        if metric not in granter.metrics:
            raise GrantError(f"--metrics {metric!r}: {from_department} does not own it, so it cannot grant it")
    kinds: list[FacilityKind] = []
    for value in facility_kinds:
        if value not in _KINDS:
            allowed = ", ".join(kind.value for kind in FacilityKind)
            raise GrantError(f"--facility-kinds {value[:80]!r}: not a facility kind ({allowed})")
        kind = FacilityKind(value)
        if kind not in granter.facility_kinds:
            raise GrantError(f"--facility-kinds {value!r}: {from_department} does not own it, so it cannot grant it")
        kinds.append(kind)
    if not metrics and not facility_kinds and not granter.metrics and not granter.facility_kinds:
        raise GrantError(f"--from {from_department!r} owns no metric or facility kind: there is nothing to grant")
    return tuple(sorted(set(metrics))), tuple(sorted(set(kinds)))


def _grant(row: tuple[str, str, str, str, str, int, int, int | None]) -> Grant:
    grant_id, granter, grantee, metrics, kinds, created_ms, expires_ms, revoked_ms = row
    return Grant(
        grant_id,
        granter,
        grantee,
        tuple(json.loads(metrics)),
        tuple(FacilityKind(kind) for kind in json.loads(kinds)),
        created_ms,
        expires_ms,
        revoked_ms,
    )


class GrantStore:
    """The ``grants`` table of the state database open on ``db`` (the connection of a
    :class:`~services.api.state.StateStore`)."""

    def __init__(self, db: StateDatabase, path: object = None) -> None:
        self._db = db
        self.path = db.where if path is None else path
        triggers = _POSTGRES_TRIGGERS if db.dialect == "postgresql" else _SQLITE_TRIGGERS
        try:
            db.create((*_SCHEMA, *triggers))
        except DatabaseError as exc:
            raise StateError(f"cannot create the grants table in {self.path}: {exc}") from exc

    def _fail(self, what: str, exc: DatabaseError) -> StateError:
        return StateError(f"cannot {what} the grants in {self.path}: {exc}")

    def add(
        self,
        from_department: str,
        to_department: str,
        expires_ms: int,
        *,
        metrics: tuple[str, ...] = (),
        facility_kinds: tuple[FacilityKind, ...] = (),
        now_ms: int | None = None,
    ) -> Grant:
        """Store a grant (already checked with :func:`check_grant`)."""
        created_ms = int(time.time() * 1000) if now_ms is None else now_ms
        grant = Grant(
            secrets.token_hex(6), from_department, to_department, metrics, facility_kinds, created_ms, expires_ms
        )
        values = (
            grant.grant_id,
            from_department,
            to_department,
            json.dumps(list(metrics)),
            json.dumps([kind.value for kind in facility_kinds]),
            created_ms,
            expires_ms,
        )
        try:
            self._db.execute(f"INSERT INTO grants ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)", values)
        except DatabaseError as exc:
            raise self._fail("write", exc) from exc
        return grant

    def get(self, grant_id: str) -> Grant | None:
        try:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM grants WHERE grant_id = ?", (grant_id,)).fetchone()
        except DatabaseError as exc:
            raise self._fail("read", exc) from exc
        return None if row is None else _grant(row)

    def revoke(self, grant_id: str, *, now_ms: int | None = None) -> Grant | None:
        """Revoke a grant (revoking twice keeps the first time); None when there is no such grant."""
        revoked_ms = int(time.time() * 1000) if now_ms is None else now_ms
        try:
            self._db.execute(
                "UPDATE grants SET revoked_ms = ? WHERE grant_id = ? AND revoked_ms IS NULL", (revoked_ms, grant_id)
            )
        except DatabaseError as exc:
            raise self._fail("write", exc) from exc
        return self.get(grant_id)

    def live_to(self, department: str, now_ms: int) -> list[Grant]:
        """The grants ``department`` holds at ``now_ms``: not revoked, not expired."""
        try:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM grants WHERE to_department = ? AND expires_ms > ? AND revoked_ms IS NULL"
                " ORDER BY grant_id",
                (department, now_ms),
            ).fetchall()
        except DatabaseError as exc:
            raise self._fail("read", exc) from exc
        return [_grant(row) for row in rows]

    def version(self) -> int:
        """A number that changes whenever the grants table does (0 before the first grant)."""
        try:
            row = self._db.execute("SELECT version FROM state_versions WHERE name = 'grants'").fetchone()
        except DatabaseError as exc:
            raise self._fail("read", exc) from exc
        return 0 if row is None else int(row[0])

    def list(self) -> list[Grant]:
        """Every grant, oldest first (expired and revoked ones too)."""
        try:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM grants ORDER BY created_ms, grant_id").fetchall()
        except DatabaseError as exc:
            raise self._fail("read", exc) from exc
        return [_grant(row) for row in rows]
