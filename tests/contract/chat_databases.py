"""Fresh, migrated chat databases for tests: a SQLite file, or a new PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from tests.conftest import skip_or_fail

PG_HOST = "127.0.0.1"
PG_PORT = 5432
# Trust auth on the test machine; the first user/database pair that answers is used.
_PG_LOGINS = (("postgres", "test"), ("postgres", "postgres"), ("root", "test"))


async def _admin() -> tuple[asyncpg.Connection, str]:
    last: Exception | None = None
    for user, database in _PG_LOGINS:
        try:
            conn = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=user, database=database, timeout=3
            )
        except (OSError, asyncpg.PostgresError) as error:
            last = error
            continue
        return conn, user
    skip_or_fail(f"PostgreSQL unreachable on {PG_HOST}:{PG_PORT}: {last}")
    raise AssertionError("unreachable")


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty database (dropped afterwards); yields its URL."""
    admin, user = await _admin()
    name = f"confab_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def empty_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of `kind` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'chat.db'}"
        return
    async with postgres_database() as url:
        yield url
