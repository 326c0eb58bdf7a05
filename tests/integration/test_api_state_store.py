"""The API's state on both engines (an SQLite file, a private PostgreSQL): keys, the command log, grants and their
version counter, the audit chain written by two connections, and the shared rate-limit buckets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from services.api import auditchain
from services.api.auditchain import AuditEntry
from services.api.auditlog import AuditFilter, AuditReader
from services.api.commandlog import CommandRecord, CommandState, SqlCommandLog
from services.api.grants import GrantStore
from services.api.keys import Role, matches
from services.api.ratelimit import SharedRateLimiter
from services.api.settings import ApiSettings
from services.api.state import StateError, StateStore
from services.api.statedb import open_database
from smartcity.city.model import FacilityKind
from smartcity.envsettings import SettingsError, load_settings

T0 = 1_790_000_000_000
"""Past 2**31 ms: PostgreSQL's 32-bit INTEGER would refuse it, so the columns must be BIGINT there."""


def test_keys_are_created_found_listed_and_revoked(state_location: Path | str) -> None:
    with StateStore(state_location) as store:
        record, key = store.create(Role.OPERATOR, ("d2", "d1", "d1"), "ops", "transport")
        found = store.find(record.key_id)
        assert found is not None
        assert found[0] == record
        assert record.districts == ("d1", "d2")
        assert matches(key, found[1])
        assert store.find("000000000000") is None
        revoked = store.revoke(record.key_id)
        assert revoked is not None
        assert revoked.revoked_ms is not None
        assert store.revoke(record.key_id) == revoked  # revoking twice keeps the first time
    with StateStore(state_location) as again:  # reopening finds the schema in place
        assert [r.key_id for r in again.list()] == [record.key_id]


def _command(command_id: str, sent_ms: int, device: str = "aq-1") -> CommandRecord:
    return CommandRecord(command_id, device, "set_interval", {"s": 60}, "k", CommandState.SENT, "", sent_ms,
                         sent_ms + 1000, sent_ms)  # fmt: skip


def test_the_command_log_settles_once_expires_and_pages(state_location: Path | str) -> None:
    with StateStore(state_location) as store:
        log = SqlCommandLog(store.connection)
        for n in range(3):
            log.add(_command(f"c{n}", T0 + n))
        settled = log.settle("c0", "aq-1", CommandState.ACKED, "", T0 + 10, T0 + 9)
        assert settled is not None
        assert settled.state is CommandState.ACKED
        assert log.settle("c0", "aq-1", CommandState.REJECTED, "again", T0 + 11, T0 + 9) is None
        assert log.settle("c1", "other-device", CommandState.ACKED, "", T0 + 11, T0 + 9) is None
        assert log.expire_due(T0 + 1001) == 1  # c1 expired; c2 expires at T0 + 1002
        page = log.for_device("aq-1", limit=2)
        assert [r.command_id for r in page] == ["c2", "c1"]
        assert [r.command_id for r in log.for_device("aq-1", limit=5, before=(T0 + 1, "c1"))] == ["c0"]
        log.remove("c2")
        assert log.get("c2") is None
        late = log.settle("c1", "aq-1", CommandState.ACKED, "", T0 + 2000, T0 + 5)
        assert late is not None  # the device's word beats the API's clock
        assert late.args == {"s": 60}


def test_grants_change_their_version_also_when_written_elsewhere(state_location: Path | str) -> None:
    with StateStore(state_location) as store, StateStore(state_location) as other:
        grants = GrantStore(store.connection)
        assert grants.version() == 0
        grant = grants.add("education", "transport", T0 + 86_400_000, facility_kinds=(FacilityKind.SCHOOL,), now_ms=T0)
        after_add = grants.version()
        assert after_add > 0
        GrantStore(other.connection).revoke(grant.grant_id, now_ms=T0 + 5)  # another process, as the CLI would
        assert grants.version() > after_add
        assert grants.live_to("transport", T0 + 1) == []
        assert grants.get(grant.grant_id) == dataclasses.replace(grant, revoked_ms=T0 + 5)


def _entry(n: int) -> AuditEntry:
    return AuditEntry(T0 + n, "0123456789ab", None, "GET", "/v1/history", f'{{"n":"{n}"}}', n, 200)


def test_two_writers_extend_one_audit_chain(state_location: Path | str) -> None:
    first, second = open_database(state_location), open_database(state_location)
    try:
        auditchain.create(first)
        auditchain.create(second)
        assert auditchain.append(first, [_entry(1)]) == 1
        assert auditchain.append(second, [_entry(2), _entry(3)]) == 3
        assert auditchain.append(first, [_entry(4)]) == 4
        verdict = auditchain.verify(second, chunk=2)
        assert (verdict.intact, verdict.records) == (True, 4)
    finally:
        first.close()
        second.close()
    reader = AuditReader(state_location)
    try:
        assert [r.seq for r in reader.page(AuditFilter(), limit=2)] == [4, 3]
        assert [r.seq for r in reader.page(AuditFilter(start_ms=T0 + 2, end_ms=T0 + 4), limit=9)] == [3, 2]
        assert "".join(reader.export(AuditFilter(route="/v1/history"))).count("\n") == 5
    finally:
        reader.close()


def test_the_shared_bucket_is_one_budget_across_replicas(state_location: Path | str) -> None:
    now = [1_790_000_000.0]
    first, second = open_database(state_location), open_database(state_location)
    try:
        a = SharedRateLimiter(first, 2.0, 3, clock=lambda: now[0])
        b = SharedRateLimiter(second, 2.0, 3, clock=lambda: now[0])
        assert [a.take("10.0.0.1"), b.take("10.0.0.1"), a.take("10.0.0.1")] == [0.0, 0.0, 0.0]
        assert b.take("10.0.0.1") == pytest.approx(0.5)  # the burst of 3 is spent across both replicas
        assert a.take("10.0.0.2") == 0.0  # another client has its own bucket
        now[0] += 0.5  # one token back at 2 per second
        assert b.take("10.0.0.1") == 0.0
        assert a.take("10.0.0.1") == pytest.approx(0.5)
        now[0] += 60
        assert a.prune(int(now[0] * 1000)) == 2
        second.close()  # the database goes away under replica b: it counts on its own instead of failing requests
        assert [b.take("10.0.0.1") for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]
    finally:
        first.close()
        second.close()


def test_a_bad_state_url_or_an_unreachable_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"state_url\n.*must be a postgresql:// URL"):
        ApiSettings(state_url="mysql://x@y/z")
    settings = ApiSettings(state_url="postgresql://smartcity:s3cret@127.0.0.1:9/none")
    with pytest.raises(StateError, match=r"cannot open the state database postgresql://smartcity:\*\*\*@") as caught:
        StateStore(settings.state_location())
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in repr(settings)
    monkeypatch.setenv("SMARTCITY_API_STATE_URL", "mysql://smartcity:s3cret@db/state")
    with pytest.raises(SettingsError) as refused:  # what the process prints before it exits 2
        load_settings(ApiSettings)
    assert "SMARTCITY_API_STATE_URL: Value error, must be a postgresql:// URL" in str(refused.value)
    assert "s3cret" not in str(refused.value)
