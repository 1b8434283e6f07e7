"""The two databases the history can live in, behind one small interface.

The store writes its SQL once, with PostgreSQL's numbered placeholders (`$1`, `$2`); SQLite
reads the same numbers as `?1`, `?2`. The few words the two spell differently are the
`Dialect`'s. Every write goes through `transaction()`, which commits on a clean exit and
rolls back on any exception (a kill -9 rolls back by itself: neither database keeps half a
transaction).

- SQLite through aiosqlite: the standard library's sqlite3 on a thread of its own, so the
  event loop never waits on the disk. It adds nothing else: the file format, WAL and
  transactions are SQLite's. One connection writes (`BEGIN IMMEDIATE` takes the file's write
  lock at once, so two processes sharing a file queue rather than fail halfway); another reads,
  which WAL lets run beside a write.
- PostgreSQL through asyncpg: asyncio-native, speaks the binary protocol itself (no libpq on
  the machine) and sends an `executemany` as one pipelined round trip. A small pool serves the
  writer and the readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Row = tuple[Any, ...]
_NUMBERED = re.compile(r"\$(\d+)")
SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_POOL_MAX = 4


class DatabaseUnavailable(Exception):
    """The database cannot be reached or is busy now; the caller retries with backoff."""


@dataclass(frozen=True)
class Dialect:
    name: str
    for_update: str  # what locks a selected row until commit ("" where the file is locked)
    schema_lock: str  # taken before creating or migrating the schema ("" likewise)


SQLITE = Dialect("sqlite", for_update="", schema_lock="")
POSTGRES = Dialect(
    "postgres",
    for_update=" FOR UPDATE",
    # Two instances starting at once must not both create the tables: one waits here.
    schema_lock="SELECT pg_advisory_xact_lock(7140)",
)


class Transaction(Protocol):
    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...


class Database(Protocol):
    dialect: Dialect

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One write transaction: committed on a clean exit, rolled back on any exception."""
        ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """A read outside any write transaction (it sees committed rows only)."""
        ...


# -- SQLite ------------------------------------------------------------------------------------


def sqlite_sql(sql: str) -> str:
    return _NUMBERED.sub(r"?\1", sql)


class _SqliteTransaction:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def execute(self, sql: str, *args: Any) -> None:
        await self._connection.execute(sqlite_sql(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._connection.executemany(sqlite_sql(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._connection.execute(sqlite_sql(sql), args) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]


class SqliteDatabase:
    dialect = SQLITE

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer: Any = None
        self._reader: Any = None
        self._write_lock = asyncio.Lock()  # one transaction at a time on the writer

    async def open(self) -> None:
        import aiosqlite

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level None: no implicit transactions; BEGIN and COMMIT are ours.
            self._writer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._writer.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a process killed at any moment loses no committed write;
            # a power cut may lose the last commits, rows and offsets together (still exact).
            await self._writer.execute("PRAGMA synchronous=NORMAL")
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            for connection in (self._writer, self._reader):
                await connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except BaseException as error:
            await self.close()  # its threads would keep the process from exiting
            if isinstance(error, Exception):
                raise DatabaseUnavailable(f"cannot open {self.path}: {error}") from error
            raise

    async def close(self) -> None:
        connections, self._writer, self._reader = (self._writer, self._reader), None, None
        for connection in connections:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTransaction]:
        import sqlite3

        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:  # busy past the timeout
                raise DatabaseUnavailable(f"{self.path}: {error}") from error
            try:
                yield _SqliteTransaction(self._writer)
                await self._writer.execute("COMMIT")
            except BaseException as error:
                await self._writer.execute("ROLLBACK")
                if isinstance(error, sqlite3.OperationalError):  # locked, disk full, I/O
                    raise DatabaseUnavailable(f"{self.path}: {error}") from error
                raise

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        import sqlite3

        try:
            return await _SqliteTransaction(self._reader).fetch(sql, *args)
        except sqlite3.OperationalError as error:
            raise DatabaseUnavailable(f"{self.path}: {error}") from error


# -- PostgreSQL --------------------------------------------------------------------------------


def _retryable(asyncpg: Any) -> tuple[type[BaseException], ...]:
    """What a server restart, a lost connection or an unlucky lock order raises: worth a retry.
    A rolled-back transaction (deadlock, serialization) left nothing behind."""
    return (
        OSError,
        asyncpg.InterfaceError,
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
        asyncpg.TransactionRollbackError,
    )


class _PostgresTransaction:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def execute(self, sql: str, *args: Any) -> None:
        await self._connection.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._connection.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [tuple(row) for row in await self._connection.fetch(sql, *args)]


class PostgresDatabase:
    dialect = POSTGRES

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: Any = None

    def __repr__(self) -> str:  # the DSN may hold a password
        return "PostgresDatabase(***)"

    async def open(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=POSTGRES_POOL_MAX
            )
        except (*_retryable(asyncpg), asyncpg.PostgresError) as error:
            # The error names the host and user at most, never the password.
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {error}") from error

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PostgresTransaction]:
        import asyncpg

        try:
            async with self._pool.acquire() as connection, connection.transaction():
                yield _PostgresTransaction(connection)
        except _retryable(asyncpg) as error:
            raise DatabaseUnavailable(f"PostgreSQL: {error}") from error

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        import asyncpg

        try:
            async with self._pool.acquire() as connection:
                return await _PostgresTransaction(connection).fetch(sql, *args)
        except _retryable(asyncpg) as error:
            raise DatabaseUnavailable(f"PostgreSQL: {error}") from error
