"""Fixtures of the integration tests beyond the shared ones: a private PostgreSQL, and the API's state location on
each engine (``state_location`` runs a test once on an SQLite file and once on a fresh PostgreSQL database)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres_server import PostgresProcess, PrivatePostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresProcess]:
    """The session's PostgreSQL cluster (initdb in a private /tmp directory, a free loopback port)."""
    with PrivatePostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def state_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's API state lives: an SQLite file in its tmp_path, or a database of its own on ``postgres``."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite"
    server: PostgresProcess = request.getfixturevalue("postgres")
    return server.create_database(f"state_{uuid.uuid4().hex[:12]}")
