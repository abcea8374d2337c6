"""Alembic environment for the chat schema.

Run from code (`confab.adapters.sql.migrate`), Alembic gets an open connection through
`config.attributes["connection"]`, already inside a transaction. Run
by the `alembic` command (with `sqlalchemy.url` set), it opens its own.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from confab.adapters.sql.engine import Database
from confab.adapters.sql.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters tables by copying them: needed by any later ALTER.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    database = Database(url, pooled=False)
    try:
        await database.write(_run)
    finally:
        await database.close()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url (e.g. alembic -x ... or the ini file)")
    asyncio.run(_run_with_own_engine(url))


_main()
