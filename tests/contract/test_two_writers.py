"""Two chat nodes writing one room of one PostgreSQL database at once.

Each node is a `SqlChatStore` with its own connection pool, opened the way bootstrap opens
it (from settings), so the pool size is the one `CONFAB_DATABASE_POOL_SIZE` names. The
guarantee: the room's seqs are 1..N with no gap and no duplicate, and a client_id sent
through both nodes is stored once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.migrate import upgrade_to_head
from confab.bootstrap.chat import open_chat_store
from confab.core.chatstore import MessageRecord, NewMessage, RoomRecord, UserRecord
from confab.core.settings import Settings
from tests.contract.chat_databases import postgres_database
from tests.contract.chat_records import new_message

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PER_NODE = 200
POOL_SIZE = 3
AUTHORS = 4


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with postgres_database() as database_url:
        await upgrade_to_head(database_url)
        yield database_url


def _new(
    room: RoomRecord, author: UserRecord, text: str, client_id: str | None = None
) -> NewMessage:
    return new_message(room, author, text, client_id, at=NOW)


@dataclass
class ConnectionWatch:
    """Samples how many connections each pool holds open to the test database."""

    url: str
    peak: int = 0
    samples: list[int] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            database = await conn.fetchval("SELECT current_database()")
            while not stop.is_set():
                count = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database,
                )
                self.samples.append(int(count))
                self.peak = max(self.peak, int(count))
                await asyncio.sleep(0.005)
        finally:
            await conn.close()


def _plan(node: int) -> list[tuple[int, str, str | None]]:
    """(author index, text, client_id) of one node's sends.

    Every fifth send carries a client_id that the other node sends too (same author):
    those must be stored once. Every seventh (author 0) repeats one of this node's own client_ids.
    """
    plan: list[tuple[int, str, str | None]] = []
    for i in range(PER_NODE):
        author = i % AUTHORS
        if i % 5 == 0:
            client_id: str | None = f"shared-{i}"
        elif i % 7 == 0:
            author, client_id = 0, f"node{node}-again-{i // 14}"
        elif i % 2:
            client_id = f"node{node}-{i}"
        else:
            client_id = None
        plan.append((author, f"node {node} message {i}", client_id))
    return plan


async def test_two_nodes_writing_one_room_get_gap_free_seqs_and_idempotency(url: str) -> None:
    settings = Settings(database_url=url, database_pool_size=POOL_SIZE, data_dir=Path("unused"))
    one: SqlChatStore = await open_chat_store(settings)
    two: SqlChatStore = await open_chat_store(settings)
    stop = asyncio.Event()
    watch = ConnectionWatch(url)
    watcher = asyncio.create_task(watch.run(stop))
    try:
        authors = [await one.create_user(f"user{i}", "hash", NOW) for i in range(AUTHORS)]
        room = await one.create_room("lobby", "", False, authors[0].id, NOW)
        for author in authors[1:]:
            await two.add_member(room.id, author.id, NOW)

        async def node(store: SqlChatStore, index: int) -> list[tuple[MessageRecord, bool]]:
            sends = _plan(index)
            random.Random(index).shuffle(sends)
            return await asyncio.gather(
                *(
                    store.append_message(_new(room, authors[a], text, client_id))
                    for a, text, client_id in sends
                )
            )

        results_one, results_two = await asyncio.gather(node(one, 1), node(two, 2))
    finally:
        stop.set()
        await watcher
    try:
        results = results_one + results_two
        created = [message for message, new in results if new]
        # What must have been stored: each distinct (author, client_id) once, and every
        # send without a client_id.
        keys = {(a, cid) for n in (1, 2) for a, _, cid in _plan(n) if cid is not None}
        anonymous = sum(cid is None for n in (1, 2) for _, _, cid in _plan(n))
        expected = len(keys) + anonymous
        assert len(created) == expected
        assert sorted(m.seq for m in created) == list(range(1, expected + 1))

        # Every send of one (author, client_id), through either node, got the same message.
        by_key: dict[tuple[str, str], set[int]] = {}
        for message, _ in results:
            if message.client_id is not None:
                by_key.setdefault((message.author, message.client_id), set()).add(message.id)
        assert all(len(ids) == 1 for ids in by_key.values())
        assert len(by_key) == len(keys)

        stored = await two.messages_after(room.id, 0, 2 * PER_NODE)
        assert [m.seq for m in stored] == list(range(1, expected + 1))
        assert {m.id for m in stored} == {m.id for m in created}
        lobby = await one.get_room("lobby")
        assert lobby is not None and lobby.last_seq == expected

        # Each node kept to its pool: never more than the setting's connections apiece.
        assert watch.samples, "the watcher never sampled"
        assert watch.peak <= 2 * POOL_SIZE
        assert watch.peak > POOL_SIZE  # both pools were in use at once
    finally:
        await one.close()
        await two.close()
