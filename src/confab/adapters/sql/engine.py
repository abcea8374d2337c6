"""Database access that never blocks the event loop: SQLite (WAL) or PostgreSQL (asyncpg).

Store operations are plain synchronous SQLAlchemy Core functions `fn(connection, *args)`,
and a `Database` runs each one whole:

- PostgreSQL: on the async engine (asyncpg) through `AsyncConnection.run_sync`; every
  statement is awaited on the loop, connections come from a pool sized by a setting.
  Reads run in autocommit: under READ COMMITTED every statement takes its own snapshot
  anyway, so a read transaction would only add its BEGIN and ROLLBACK round trips (a
  one-statement read took 1.8x the wall time and 1.5-1.7x the CPU with them).
- SQLite: on a worker thread with the standard sqlite3 driver, the whole operation in one
  hop. (Through aiosqlite every statement costs three or four hops between the loop and
  the driver's thread - measured 8 per read and 16 per send, each waiting for a busy loop -
  and the write lock was held across all of them.) Writes go to one dedicated thread with
  its own connection (which keeps its page cache), so they queue in order in-process;
  `BEGIN IMMEDIATE` plus `busy_timeout` order them against other processes.

Group commit (`write_grouped`): writes that arrive while the previous transaction runs are
collected and run together in ONE transaction (after a failure, again in a new one with a
SAVEPOINT each), so one that fails (or rolls itself back) leaves the others;
nodes use it for every room change. After COMMIT every caller gets its own
result, so nothing is acknowledged before it is durable. One fsync (SQLite) or one commit
round trip (PostgreSQL) then serves a whole batch; while writes keep coming, each batch
waits `GROUP_COMMIT_LINGER_SECONDS` for more before it starts. Writes are spread over
lanes by a key (the room): a room's writes always share a lane, so two lanes never wait
for each other's room row lock (which could deadlock two batches); SQLite has one lane
(one writer).

SQLite notes: the sqlite3 module's own transaction handling is turned off and SQLAlchemy
emits BEGIN itself, so transactions (and Alembic's DDL) really are transactional. Taking the
write lock at BEGIN means a second writer waits `busy_timeout` for it instead of failing with
"database is locked" when it tries to upgrade a read lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from confab.adapters.sql.errors import translated
from confab.adapters.sql.prepared import Prepared
from confab.core.clock import Clock, LoopClock
from confab.core.errors import InvalidInput

SQLITE_BUSY_TIMEOUT_SECONDS = 10.0
# The writer's page cache (SQLite's default is 2 MiB): the index pages of every active room.
WRITER_CACHE_KIB = 64 * 1024
_WRITE_OPTION = "confab_write"

Synchronous = Literal["NORMAL", "FULL"]
P = ParamSpec("P")
T = TypeVar("T")
Operation = Callable[Concatenate[Connection, P], T]
Call = Callable[[Connection], Any]
# A batch is run whole before the next starts: capped so a batch's wait stays short.
MAX_BATCH = 64
# Under a stream of writes, how long a batch waits for more before it starts. A commit
# costs the writer about 100 us of CPU however many writes it holds (SQLite's fdatasync
# alone ~80 us on a virtual disk); at 1,800 writes/s batches grew from ~3 to ~15 and the
# SQLite writer's CPU per write fell from ~227 to ~174 us (bench/chat/manyrooms.py), for
# ~5 ms more on the median ack and none on the p99.
GROUP_COMMIT_LINGER_SECONDS = 0.004


@dataclass
class _Outcome:
    """What one call of a batch gave: a value or an exception."""

    value: Any = None
    error: BaseException | None = None


@dataclass
class _Lane:
    """Writes waiting for the next batch of one lane, and the task running its batches."""

    pending: list[tuple[Call, asyncio.Future[Any]]] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None


_DEFERRED = "confab_deferred_inserts"


def defer_insert(conn: Connection, statement: Prepared, params: dict[str, Any]) -> None:
    """Insert a row now, or, inside a batch, with the batch's other rows for `statement`
    in one executemany before COMMIT (rows of a call that fails are dropped with it).

    Only for rows nothing in the same transaction reads back before `flush_deferred`.
    """
    pending: dict[Prepared, list[dict[str, Any]]] | None = conn.info.get(_DEFERRED)
    if pending is None:
        statement.rows(conn, params)
    else:
        pending.setdefault(statement, []).append(params)


def flush_deferred(conn: Connection) -> None:
    """Insert the rows deferred so far (before reading the table they go to)."""
    pending: dict[Prepared, list[dict[str, Any]]] | None = conn.info.get(_DEFERRED)
    if pending:
        for statement, rows in pending.items():
            if rows:  # a failed call may have taken back every row of a statement
                statement.run_many(conn, rows)
        pending.clear()


class _CallFailed(Exception):
    """A call of an optimistic batch failed: its transaction is rolled back whole."""


@contextmanager
def _deferring(conn: Connection) -> Iterator[dict[Prepared, list[dict[str, Any]]]]:
    """Collect the batch's deferred inserts (`defer_insert`); insert them when the batch's
    calls are done, not if they raised."""
    pending: dict[Prepared, list[dict[str, Any]]] = {}
    conn.info[_DEFERRED] = pending
    try:
        yield pending
        flush_deferred(conn)
    finally:
        del conn.info[_DEFERRED]


def _run_all(conn: Connection, calls: list[Call]) -> list[_Outcome]:
    """Run every call of a batch in the open transaction, then the deferred inserts.

    Optimistically, with no savepoint: on PostgreSQL a savepoint and its release are two
    round trips per batch, and on SQLite every page changed under a savepoint first copies
    its old content to a statement journal (a temporary file once it passes 64 KiB). If a
    call fails (or rolls itself back with `Unchanged`), `_CallFailed` rolls the whole
    transaction back and the caller runs the batch again with `_run_each`.
    """
    outcomes = []
    with _deferring(conn):
        for call in calls:
            try:
                with translated():
                    outcomes.append(_Outcome(value=call(conn)))
            except Exception as error:  # run again by `_run_each`
                raise _CallFailed from error
    return outcomes


def _run_each(conn: Connection, calls: list[Call]) -> list[_Outcome]:
    """Run each call of a batch in its own savepoint (one that fails leaves the others),
    then the deferred inserts: after `_CallFailed`, in a new transaction (a call that went
    through the first time may not now: another node may have committed in between)."""
    outcomes = []
    with _deferring(conn) as pending:
        for call in calls:
            # Through SQLAlchemy: on asyncpg the transaction starts with its first statement.
            conn.exec_driver_sql("SAVEPOINT confab_call")
            kept = {statement: len(rows) for statement, rows in pending.items()}
            try:
                with translated():
                    value = call(conn)
            except Exception as error:  # handed to that call's caller
                conn.exec_driver_sql("ROLLBACK TO SAVEPOINT confab_call")
                for statement in list(pending):
                    del pending[statement][kept.get(statement, 0) :]
                outcomes.append(_Outcome(error=error))
            else:
                outcomes.append(_Outcome(value=value))
            conn.exec_driver_sql("RELEASE SAVEPOINT confab_call")
    return outcomes


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
        group_commit: bool = True,
        linger: float = GROUP_COMMIT_LINGER_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        url = normalize_url(url)
        self._linger = linger
        self._clock = clock or LoopClock()
        self.sqlite = url.startswith("sqlite")
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        self._async_reads: AsyncEngine | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._writer: ThreadPoolExecutor | None = None
        if self.sqlite:
            self._sync = _sqlite_engine(url, pool_size, synchronous, pooled)
            # The writer's own connection: a SQLite connection drops its page cache when
            # another connection wrote since it last ran, so a writer that took any pooled
            # connection (the one idle longest) read every page again from the OS.
            self._sync_writer = _sqlite_engine(
                url, 1, synchronous, pooled, cache_kib=WRITER_CACHE_KIB
            ).execution_options(**{_WRITE_OPTION: True})
            self._readers = ThreadPoolExecutor(pool_size, thread_name_prefix="confab-sql-read")
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="confab-sql-write")
        else:
            options: dict[str, Any] = {"poolclass": NullPool}
            if pooled:
                # The setting is a hard cap (no overflow): a fleet's nodes times their pool
                # must stay under the server's max_connections. Past it, callers queue.
                options = {"pool_size": pool_size, "max_overflow": 0, "pool_recycle": 1800}
            self._async = create_async_engine(url, **options)
            # The same pool; the level is reset when a connection goes back to it.
            self._async_reads = self._async.execution_options(isolation_level="AUTOCOMMIT")
        # PostgreSQL: half the pool writes batches, the rest stays free for reads.
        lanes = 1 if self.sqlite else max(1, pool_size // 2)
        self._lanes = [_Lane() for _ in range(lanes)] if group_commit else []

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

    async def write_grouped(
        self, key: int, operation: Operation[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like `write`, but possibly in one transaction with other writes (group commit,
        when enabled): `key` picks the lane (writes with one key run in arrival order)."""

        def call(connection: Connection) -> T:
            return operation(connection, *args, **kwargs)

        if not self._lanes:
            return await self._run(True, call)
        lane = self._lanes[key % len(self._lanes)]
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        lane.pending.append((call, future))
        if lane.flusher is None:
            lane.flusher = asyncio.create_task(self._flush(lane))
        return await future

    async def _flush(self, lane: _Lane) -> None:
        try:
            first = True
            while lane.pending:
                if not first and len(lane.pending) < MAX_BATCH and self._linger > 0:
                    # Writes came while the last batch ran: wait for more to share its
                    # commit. A lone write on an idle lane runs at once.
                    await self._clock.sleep(self._linger)
                first = False
                batch = lane.pending[:MAX_BATCH]
                del lane.pending[:MAX_BATCH]
                try:
                    outcomes = await self._run_batch([call for call, _ in batch])
                except Exception as error:  # the whole batch failed
                    outcomes = [_Outcome(error=error)] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller was cancelled
                        continue
                    if outcome.error is not None:
                        future.set_exception(outcome.error)
                    else:
                        future.set_result(outcome.value)
        finally:
            lane.flusher = None

    async def _run_batch(self, calls: list[Call]) -> list[_Outcome]:
        if len(calls) == 1:  # alone: no savepoint needed
            try:
                return [_Outcome(value=await self._run(True, calls[0]))]
            except Exception as error:  # handed to its caller
                return [_Outcome(error=error)]
        with translated():
            try:
                return await self._run_batch_in(_run_all, calls)
            except _CallFailed:
                return await self._run_batch_in(_run_each, calls)

    async def _run_batch_in(
        self, runner: Callable[[Connection, list[Call]], list[_Outcome]], calls: list[Call]
    ) -> list[_Outcome]:
        if self._async is not None:
            async with self._async.begin() as aconn:
                return await aconn.run_sync(runner, calls)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._grouped_in_thread, runner, calls)

    def _grouped_in_thread(
        self, runner: Callable[[Connection, list[Call]], list[_Outcome]], calls: list[Call]
    ) -> list[_Outcome]:
        with self._sync_writer.begin() as conn:
            return runner(conn, calls)

    async def _run(self, write: bool, call: Callable[[Connection], T]) -> T:
        with translated():
            if self._async is not None:
                if write:
                    async with self._async.begin() as aconn:
                        return await aconn.run_sync(call)
                assert self._async_reads is not None
                async with self._async_reads.connect() as aconn:
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
        """Finish the batches in flight, close every pooled connection, stop the threads."""
        for lane in self._lanes:
            if lane.flusher is not None:
                await asyncio.shield(lane.flusher)
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
            self._sync_writer.engine.dispose()


def _sqlite_engine(
    url: str, pool_size: int, synchronous: Synchronous, pooled: bool, *, cache_kib: int = 0
) -> Engine:
    database = make_url(url).database
    if not database or database == ":memory:" or "mode=memory" in url:
        # Each pooled connection would see its own empty database.
        raise InvalidInput("SQLite needs a file: sqlite:///PATH", code="bad_setting")
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"poolclass": NullPool}
    if pooled:
        options = {"pool_size": pool_size, "max_overflow": 0}
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
        *([f"PRAGMA cache_size=-{cache_kib}"] if cache_kib else []),
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
