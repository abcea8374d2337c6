"""Reads on PostgreSQL run in autocommit: each statement is its own transaction, with no
BEGIN and ROLLBACK round trips (under READ COMMITTED a read transaction holds no snapshot
across its statements anyway); writes on the same pooled connection are transactions still."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from confab.adapters.sql.engine import Database
from confab.adapters.sql.migrate import upgrade_to_head
from tests.contract.chat_databases import empty_database

# now() is the start of the current transaction: two statements of one transaction agree.
_NOW = sa.text("SELECT now()")


def _in_one_transaction(conn: Connection) -> bool:
    first = conn.execute(_NOW).scalar_one()
    return bool(conn.execute(_NOW).scalar_one() == first)


async def test_postgresql_reads_run_without_a_transaction_and_writes_within_one(
    tmp_path: Path,
) -> None:
    async with empty_database("postgresql", tmp_path) as url:
        await upgrade_to_head(url)
        database = Database(url, pool_size=1)  # one connection: reads and writes share it
        try:
            assert not await database.read(_in_one_transaction)
            assert await database.write(_in_one_transaction)
            assert not await database.read(_in_one_transaction)
            assert await database.write(_in_one_transaction)
        finally:
            await database.close()
