"""API keys and roles: what a key looks like, how it is checked, and what each role may do.

A key is ``sck_<key id>_<secret>``: the key id (12 hex digits) names the stored record, the secret is 256 random
bits (43 base64url characters). Only the SHA-256 of the whole key is stored. A slow password hash buys nothing for
a 256-bit random secret (nobody can guess it); a plain hash keeps a lookup to microseconds. The key is shown once,
when it is created.

Roles are ordered: each may do what the ones before it may. ``public`` is the role of a request without a key.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "sck_"
_KEY = re.compile(r"^sck_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})$")


class Role(enum.StrEnum):
    """What a caller may do (docs/API.md has the table)."""

    PUBLIC = "public"
    """No key: the catalogue without device details; rate-limited."""
    PLANNER = "planner"
    """Plus device details, latest values and history."""
    OPERATOR = "operator"
    """Plus device health."""
    ADMIN = "admin"
    """Plus API keys."""

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def may(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key, without its secret."""

    key_id: str
    role: Role
    districts: tuple[str, ...]
    """The districts the key sees; empty: the whole city."""
    name: str
    created_ms: int
    revoked_ms: int | None = None
    department: str | None = None
    """The department the key belongs to (``City.departments``); None: the city's own key, which reads every
    department's data (keys made before departments existed are such keys)."""

    @property
    def active(self) -> bool:
        return self.revoked_ms is None


def new_key() -> tuple[str, str, str]:
    """A fresh (key id, key, SHA-256 hex digest of the key)."""
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key_id, key, digest(key)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The key id of a well-formed key; None for anything else."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def matches(key: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented key with a stored digest."""
    return hmac.compare_digest(digest(key), stored_digest)
