"""Database access that never blocks the event loop: SQLite (WAL) or PostgreSQL (asyncpg).

Store operations are plain synchronous SQLAlchemy Core functions `fn(connection, *args)`,
and a `Database` runs each one whole:

- PostgreSQL: on the async engine (asyncpg) through `AsyncConnection.run_sync`; every
  statement is awaited on the loop, connections come from a pool sized by a setting.
- SQLite: on a worker thread with the standard sqlite3 driver, the whole operation in one
  hop. (Through aiosqlite every statement costs three or four hops between the loop and
  the driver's thread - measured 8 per read and 16 per send, each waiting for a busy loop -
  and the write lock was held across all of them.) Writes go to one dedicated thread, so
  they queue in order in-process; `BEGIN IMMEDIATE` plus `busy_timeout` order them
  against other processes.

SQLite notes: the sqlite3 module's own transaction handling is turned off and SQLAlchemy
emits BEGIN itself, so transactions (and Alembic's DDL) really are transactional. Taking the
write lock at BEGIN means a second writer waits `busy_timeout` for it instead of failing with
"database is locked" when it tries to upgrade a read lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from confab.adapters.sql.errors import translated
from confab.core.errors import InvalidInput

SQLITE_BUSY_TIMEOUT_SECONDS = 10.0
_WRITE_OPTION = "confab_write"

Synchronous = Literal["NORMAL", "FULL"]
P = ParamSpec("P")
T = TypeVar("T")
Operation = Callable[Concatenate[Connection, P], T]


def normalize_url(url: str) -> str:
    """Name the driver: `sqlite[+x]://` -> sqlite3 (pysqlite), `postgres[ql][+x]://` -> asyncpg."""
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0].lower()
    if sep and base == "sqlite":
        return f"sqlite+pysqlite://{rest}"
    if sep and base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise InvalidInput(
        f"unsupported database URL {scheme + sep!r}: use sqlite:///PATH or postgresql://...",
        code="bad_setting",
    )


def is_sqlite(url: str) -> bool:
    """Whether the URL names a SQLite database."""
    return normalize_url(url).startswith("sqlite")


class Database:
    """Runs store operations, each in one transaction, without blocking the loop."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        synchronous: Synchronous = "FULL",
        pooled: bool = True,
    ) -> None:
        url = normalize_url(url)
        self.sqlite = url.startswith("sqlite")
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._writer: ThreadPoolExecutor | None = None
        if self.sqlite:
            self._sync = _sqlite_engine(url, pool_size, synchronous, pooled)
            self._sync_writer = self._sync.execution_options(**{_WRITE_OPTION: True})
            self._readers = ThreadPoolExecutor(pool_size, thread_name_prefix="confab-sql-read")
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="confab-sql-write")
        else:
            options: dict[str, Any] = {"poolclass": NullPool}
            if pooled:
                # The setting is a hard cap (no overflow): a fleet's nodes times their pool
                # must stay under the server's max_connections. Past it, callers queue.
                options = {"pool_size": pool_size, "max_overflow": 0, "pool_recycle": 1800}
            self._async = create_async_engine(url, **options)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return "sqlite" if self.sqlite else "postgresql"

    async def read(self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `operation(connection, ...)` in a read transaction."""

        def call(connection: Connection) -> T:
            return operation(connection, *args, **kwargs)

        return await self._run(False, call)

    async def write(self, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `operation(connection, ...)` in a write transaction, committed on return."""

        def call(connection: Connection) -> T:
            return operation(connection, *args, **kwargs)

        return await self._run(True, call)

    async def _run(self, write: bool, call: Callable[[Connection], T]) -> T:
        with translated():
            if self._async is not None:
                if write:
                    async with self._async.begin() as aconn:
                        return await aconn.run_sync(call)
                async with self._async.connect() as aconn:
                    return await aconn.run_sync(call)
            executor = self._writer if write else self._readers
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(executor, self._in_thread, write, call)

    def _in_thread(self, write: bool, call: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        if write:
            with self._sync_writer.begin() as conn:
                return call(conn)
        with self._sync.connect() as conn:
            return call(conn)

    async def warm(self, connections: int) -> None:
        """Open `connections` pooled connections at once (a node's readiness check): the
        database answers, and the first requests under load do not each pay a connect."""

        def ping(connection: Connection) -> None:
            connection.exec_driver_sql("SELECT 1")

        await asyncio.gather(*(self.read(ping) for _ in range(max(1, connections))))

    async def close(self) -> None:
        """Close every pooled connection and stop the threads."""
        if self._async is not None:
            await self._async.dispose()
        if self._sync is not None:
            # Waiting for an operation in flight blocks: do it off the loop.
            await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        for executor in (self._readers, self._writer):
            if executor is not None:
                executor.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()


def _sqlite_engine(url: str, pool_size: int, synchronous: Synchronous, pooled: bool) -> Engine:
    database = make_url(url).database
    if not database or database == ":memory:" or "mode=memory" in url:
        # Each pooled connection would see its own empty database.
        raise InvalidInput("SQLite needs a file: sqlite:///PATH", code="bad_setting")
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"poolclass": NullPool}
    if pooled:
        options = {"pool_size": pool_size + 1, "max_overflow": 0}
    engine = create_engine(
        url,
        # Connections move between the worker threads (never two at once).
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        **options,
    )
    busy_ms = int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={synchronous}",
        f"PRAGMA busy_timeout={busy_ms}",
        "PRAGMA foreign_keys=ON",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # None: the driver stops emitting BEGIN; `_on_begin` does it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
