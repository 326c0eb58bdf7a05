"""API keys: their shape, hashing, roles, the SQLite state store and the key ring's short cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.api.deps import KeyRing
from services.api.keys import Role, digest, key_id_of, matches, new_key
from services.api.state import StateStore
from tests.support.api_twins import MemoryKeyStore


def test_a_key_carries_its_id_and_only_its_digest_is_kept() -> None:
    key_id, key, stored = new_key()
    assert key.startswith(f"sck_{key_id}_")
    assert len(key.removeprefix(f"sck_{key_id}_")) == 43  # 256 random bits in base64url
    assert key_id_of(key) == key_id
    assert stored == digest(key)
    assert key not in stored
    assert matches(key, stored)
    assert not matches(key + "x", stored)
    for bad in ("", "sck_", "Bearer x", f"sck_{key_id}_short", key.upper()):
        assert key_id_of(bad) is None


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.may(Role.OPERATOR)
    assert Role.OPERATOR.may(Role.PLANNER)
    assert Role.PLANNER.may(Role.PUBLIC)
    assert not Role.PLANNER.may(Role.OPERATOR)
    assert not Role.PUBLIC.may(Role.PLANNER)


def test_state_store_creates_lists_and_revokes_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "api" / "state.sqlite"
    with StateStore(path) as store:
        record, key = store.create(Role.PLANNER, ("south", "north", "south"), "traffic team")
        assert record.districts == ("north", "south")
        found = store.find(record.key_id)
        assert found is not None
        assert found[0] == record
        assert matches(key, found[1])
        first = store.revoke(record.key_id)
        assert first is not None
        assert first.revoked_ms is not None
        again = store.revoke(record.key_id)
        assert again is not None
        assert again.revoked_ms == first.revoked_ms  # revoking twice keeps the first time
        assert store.revoke("000000000000") is None
        assert [r.key_id for r in store.list()] == [record.key_id]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        stored = db.execute("SELECT * FROM api_keys").fetchall()
    assert key not in repr(stored)


def test_key_ring_caches_look_ups_and_refuses_bad_keys() -> None:
    store = MemoryKeyStore()
    record, key = store.create(Role.OPERATOR, ("north",))
    now = [0.0]
    ring = KeyRing(store, ttl_s=5.0, clock=lambda: now[0])
    assert ring.check(key) == record
    assert ring.check(key) == record
    assert store.finds == 1
    wrong_secret = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert ring.check(wrong_secret) is None
    assert ring.check("not a key") is None
    store.revoke(record.key_id)
    assert ring.check(key) == record  # cached for up to ttl_s
    now[0] = 6.0
    assert ring.check(key) is None
    ring.forget(record.key_id)
    assert ring.check(key) is None
