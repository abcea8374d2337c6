"""The chat stores every contract test runs on: in memory, SQLite (WAL) and PostgreSQL.

`open_stores(kind, tmp_path, n)` gives `n` stores on one database (two SQL stores have
their own connection pools, like two nodes); in memory there is one store, given `n` times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from confab.adapters.chatstore_memory import MemoryChatStore
from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.migrate import upgrade_to_head
from confab.core.chatstore import ChatStore
from tests.contract.chat_databases import empty_database

KINDS = ("memory", "sqlite", "postgresql")


@asynccontextmanager
async def open_stores(kind: str, tmp_path: Path, n: int = 1) -> AsyncIterator[list[ChatStore]]:
    """`n` stores of `kind` on one fresh, migrated database."""
    if kind == "memory":
        memory = MemoryChatStore()
        yield [memory] * n
        return
    async with empty_database(kind, tmp_path) as url:
        await upgrade_to_head(url)
        stores: list[ChatStore] = [SqlChatStore.open(url, pool_size=4) for _ in range(n)]
        try:
            yield stores
        finally:
            for store in stores:
                await store.close()
