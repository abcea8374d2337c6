"""Group commit (`Database.write_grouped`) on SQLite and PostgreSQL: concurrent writes share
transactions, yet each gets its own result or its own error, and a failing one rolls back
alone, never its neighbours; a stream of writes waits a moment to share commits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from confab.adapters.sql.engine import Database, defer_insert
from confab.adapters.sql.errors import DUPLICATE
from confab.adapters.sql.migrate import upgrade_to_head
from confab.adapters.sql.prepared import Prepared
from confab.adapters.sql.tables import users
from confab.core.clock import ManualClock
from confab.core.errors import Conflict
from tests.contract.chat_databases import empty_database
from tests.contract.chat_records import NOW

WRITES = 40


class Refused(Exception):
    """An operation's own failure."""


def _insert(conn: Connection, name: str) -> tuple[str, int | None]:
    """Insert a user; (name, the PostgreSQL transaction id or None on SQLite)."""
    if name.startswith("bad"):
        conn.execute(users.insert().values(username=name, password_hash="h", created_at=NOW))
        raise Refused(name)  # after writing: the savepoint must take the row back
    conn.execute(users.insert().values(username=name, password_hash="h", created_at=NOW))
    txid = None
    if conn.dialect.name == "postgresql":
        txid = int(conn.execute(sa.text("SELECT txid_current()")).scalar_one())
    return name, txid


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_grouped_writes_commit_together_and_fail_alone(kind: str, tmp_path: Path) -> None:
    async with empty_database(kind, tmp_path) as url:
        await upgrade_to_head(url)
        database = Database(url, pool_size=2, group_commit=True)
        try:
            await database.write(_insert, "taken")
            names = [
                "bad" if i % 10 == 3 else "taken" if i % 10 == 7 else f"user{i}"
                for i in range(WRITES)
            ]
            results = await asyncio.gather(
                *(database.write_grouped(0, _insert, name) for name in names),
                return_exceptions=True,
            )
            for name, result in zip(names, results, strict=True):
                if name == "bad":
                    assert isinstance(result, Refused)
                elif name == "taken":
                    assert isinstance(result, Conflict) and result.reason == DUPLICATE
                else:
                    assert isinstance(result, tuple) and result[0] == name

            stored = await database.read(
                lambda conn: sorted(conn.execute(sa.select(users.c.username)).scalars())
            )
            expected = {n for n in names if n.startswith("user")} | {"taken"}
            assert stored == sorted(expected)
            if kind == "postgresql":
                txids = [r[1] for r in results if isinstance(r, tuple)]
                assert len(set(txids)) < len(txids)  # several writes shared a transaction
        finally:
            await database.close()


_INSERT_USER = Prepared(
    users.insert().values(
        username=sa.bindparam("username"),
        password_hash=sa.bindparam("password_hash"),
        created_at=sa.bindparam("created_at"),
    )
)


def _deferred(conn: Connection, name: str) -> str:
    """Insert a user with the batch's other deferred rows; a name starting "bad" fails."""
    defer_insert(conn, _INSERT_USER, {"username": name, "password_hash": "h", "created_at": NOW})
    if name.startswith("bad"):
        raise Refused(name)
    return name


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_failure_mid_batch_keeps_each_deferred_row_once(kind: str, tmp_path: Path) -> None:
    """The batch runs optimistically, then again with a savepoint per call from the first
    failure on: rows deferred by the calls before it are inserted once, the failed one's
    not at all."""
    async with empty_database(kind, tmp_path) as url:
        await upgrade_to_head(url)
        database = Database(url, pool_size=2, group_commit=True)
        try:
            names = ["a0", "a1", "bad2", "a3", "bad4", "a5"]
            results = await asyncio.gather(
                *(database.write_grouped(0, _deferred, name) for name in names),
                return_exceptions=True,
            )
            assert [isinstance(r, Refused) for r in results] == [n.startswith("bad") for n in names]
            stored = await database.read(
                lambda conn: list(conn.execute(sa.select(users.c.username)).scalars())
            )
            assert sorted(stored) == ["a0", "a1", "a3", "a5"]
        finally:
            await database.close()


def _transaction(conn: Connection, name: str) -> tuple[str, object]:
    """The transaction a write ran in."""
    return name, conn.get_transaction()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_writes_that_arrive_while_a_batch_runs_wait_to_share_the_next(
    kind: str, tmp_path: Path
) -> None:
    """A lone write on an idle lane starts at once; the writes that arrive while it runs
    wait `linger` for more, then commit together."""
    async with empty_database(kind, tmp_path) as url:
        await upgrade_to_head(url)
        clock = ManualClock()
        database = Database(url, pool_size=2, linger=0.004, clock=clock)
        try:
            first = asyncio.ensure_future(database.write_grouped(0, _transaction, "a"))
            await asyncio.sleep(0)  # `first` queues itself and starts the lane's flusher
            # Queued behind the flusher, which takes its first batch before these queue.
            early = [
                asyncio.ensure_future(database.write_grouped(0, _transaction, f"b{i}"))
                for i in range(3)
            ]
            # The lone first write never waits on the clock (the clock does not move).
            (_, first_transaction) = await asyncio.wait_for(first, timeout=30)
            await clock.settle()
            assert clock.pending() == 1 and not any(write.done() for write in early)
            late = [
                asyncio.ensure_future(database.write_grouped(0, _transaction, f"c{i}"))
                for i in range(2)
            ]
            await clock.settle()
            assert not any(write.done() for write in early + late)
            await clock.advance(0.004)
            results = await asyncio.gather(*early, *late)
            assert [name for name, _ in results] == ["b0", "b1", "b2", "c0", "c1"]
            shared = results[0][1]
            assert all(transaction is shared for _, transaction in results)
            assert shared is not first_transaction
        finally:
            await database.close()


def _driver_connection(conn: Connection, _: str = "") -> object:
    """The DBAPI connection a call ran on."""
    return conn.connection.dbapi_connection


async def test_the_sqlite_writer_keeps_a_connection_of_its_own(tmp_path: Path) -> None:
    """Every write runs on one connection that no read is given (a connection another
    one wrote behind drops its page cache)."""
    async with empty_database("sqlite", tmp_path) as url:
        await upgrade_to_head(url)
        database = Database(url, pool_size=3)
        try:
            await database.warm(3)
            writes = [await database.write(_driver_connection) for _ in range(3)]
            writes += await asyncio.gather(
                *(database.write_grouped(0, _driver_connection, str(i)) for i in range(5))
            )
            reads = await asyncio.gather(*(database.read(_driver_connection) for _ in range(9)))
            assert len({id(connection) for connection in writes}) == 1
            assert id(writes[0]) not in {id(connection) for connection in reads}
        finally:
            await database.close()
