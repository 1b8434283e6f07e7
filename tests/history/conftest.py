"""History fixtures: a real PostgreSQL server per test session (started only if a test asks),
and a fresh, opened history store on each database a test is parametrized with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from betting.devtools.postgres_server import PostgresServer
from betting.history.store import HistoryStore
from tests.history.support import fresh_database_dsn, new_store


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, run as an unprivileged user on a free port."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def database_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def history_target(request: pytest.FixtureRequest, database_kind: str, tmp_path: Path) -> str:
    """Where a fresh history database is: a SQLite file path, or a PostgreSQL DSN."""
    if database_kind == "postgres":
        return fresh_database_dsn(request.getfixturevalue("postgres_server"))
    return str(tmp_path / "history.sqlite3")


@pytest.fixture
async def store(database_kind: str, history_target: str) -> AsyncIterator[HistoryStore]:
    opened = new_store(database_kind, history_target)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
