"""Fresh, migrated chat databases for tests: a SQLite file, or a new PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.procs import ServiceMissing
from bench.procs import postgres_database as _postgres_database

from tests.conftest import skip_or_fail


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty database (dropped afterwards); yields its URL. Skips without PostgreSQL."""
    try:
        manager = _postgres_database()
        url = await manager.__aenter__()
    except ServiceMissing as missing:
        skip_or_fail(str(missing))
        raise AssertionError("unreachable") from None
    try:
        yield url
    finally:
        await manager.__aexit__(None, None, None)


@asynccontextmanager
async def empty_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of `kind` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'chat.db'}"
        return
    async with postgres_database() as url:
        yield url
