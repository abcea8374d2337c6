"""Two writers on one room at once: two stores on one database (like two nodes).

On SQLite and PostgreSQL each store has its own connection pool; in memory both writers
share the one store. The guarantee: the room's log is 1..N with no gap and no duplicate
whatever mix of sends, reactions, read markers and membership changes races, a client_id
sent through both is stored once, and a DM opened from both is one room.

The last test opens two PostgreSQL nodes the way bootstrap opens them (from settings), so
the pool size is the one `CONFAB_DATABASE_POOL_SIZE` names.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.migrate import upgrade_to_head
from confab.bootstrap.chat import open_chat_store
from confab.core.chatstore import ChatStore, MessageRecord, NewMessage, RoomRecord, UserRecord
from confab.core.errors import Forbidden
from confab.core.roomlog import RoomEvent
from confab.core.settings import Settings
from tests.contract.chat_databases import postgres_database
from tests.contract.chat_records import NOW, frame, new_message, room, user, whole_log
from tests.contract.chat_stores import KINDS, open_stores

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


@pytest.fixture(params=KINDS)
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[ChatStore]]:
    async with open_stores(request.param, tmp_path, 2) as stores:
        yield stores


async def test_concurrent_appends_from_two_stores_get_gap_free_seqs(
    pair: list[ChatStore],
) -> None:
    one, two = pair
    alice, bob = await user(one, "alice"), await user(one, "bob")
    lobby = await room(one, "lobby", alice)
    await one.add_member(lobby.id, bob.id, bob.id, NOW)
    per_writer = 25

    async def burst(chat: ChatStore, author: UserRecord) -> list[int]:
        results = await asyncio.gather(
            *(
                chat.append_message(_new(lobby, author, f"{author.username} {i}"))
                for i in range(per_writer)
            )
        )
        return [message.seq for message, event in results if event is not None]

    seqs_one, seqs_two = await asyncio.gather(burst(one, alice), burst(two, bob))
    expected = list(range(2, 2 * per_writer + 2))
    assert sorted(seqs_one + seqs_two) == expected
    stored = await one.messages_after(lobby.id, 0, 100)
    assert [m.seq for m in stored] == expected
    assert [e.seq for e in await whole_log(two, lobby.id)] == [1, *expected]


async def test_a_client_id_raced_from_two_stores_is_stored_once(pair: list[ChatStore]) -> None:
    one, two = pair
    alice = await user(one, "alice")
    lobby = await room(one, "lobby", alice)
    attempts = [
        chat.append_message(_new(lobby, alice, "once", "same-id"))
        for chat in (one, two, one, two, one, two)
    ]
    results = await asyncio.gather(*attempts)
    assert sum(event is not None for _, event in results) == 1
    assert len({message.id for message, _ in results}) == 1
    assert {message.seq for message, _ in results} == {1}
    after, event = await two.append_message(_new(lobby, alice, "next"))
    assert event is not None and after.seq == 2  # the losers left no gap


async def test_mixed_writes_from_two_stores_keep_the_log_gap_free(pair: list[ChatStore]) -> None:
    """Sends, reactions (with repeats), read markers and joins from both stores at once:
    every event that came back is in the log once, the log is 1..N, and the folded state
    agrees with it."""
    one, two = pair
    people = [await user(one, f"user{i}") for i in range(AUTHORS)]
    lobby = await room(one, "lobby", people[0])
    target, _ = await one.append_message(_new(lobby, people[0], "react here"))
    rng = random.Random(14)

    def plan(chat: ChatStore, node: int) -> list[Awaitable[object]]:
        calls: list[Awaitable[object]] = []
        for i in range(60):
            person = people[rng.randrange(AUTHORS)]
            kind = i % 4
            if kind == 0:
                calls.append(chat.append_message(_new(lobby, person, f"node {node} #{i}")))
            elif kind == 1:
                emoji = rng.choice(("👍", "🎉"))
                calls.append(chat.add_reaction(lobby.id, target.id, person.id, emoji, NOW))
            elif kind == 2:
                calls.append(chat.mark_read(lobby.id, person.id, 10**6, NOW))
            else:
                calls.append(chat.add_member(lobby.id, person.id, person.id, NOW))
        return calls

    results = await asyncio.gather(*plan(one, 1), *plan(two, 2), return_exceptions=True)
    published: list[RoomEvent] = []
    for result in results:
        if isinstance(result, Forbidden) and result.reason == "not_a_member":
            continue  # a write that came before its author's join: refused, no seq taken
        if isinstance(result, BaseException):
            raise result
        found = result[1] if isinstance(result, tuple) else result
        if isinstance(found, RoomEvent):
            published.append(found)
    log = await whole_log(two, lobby.id)
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert sorted(published, key=lambda e: e.seq) == log[1:]  # seq 1 is the first message
    joins = [e for e in log if e.type == "member_joined"]
    assert len({e.subject for e in joins}) == len(joins) == AUTHORS - 1  # each joined once
    reactions = [e for e in log if e.type == "reaction_added"]
    assert len({(e.subject, frame(e)["emoji"]) for e in reactions}) == len(reactions)
    stored = await one.get_message(lobby.id, target.id)
    assert stored is not None
    assert sum(r.count for r in stored.reactions) == len(reactions)
    # Read markers only moved forward, each to the log's end as it was then.
    for event in log:
        if event.type == "read":
            assert frame(event)["read_seq"] == event.seq - 1
    lobby_now = await one.get_room("lobby")
    assert lobby_now is not None and lobby_now.last_seq == len(log)


async def test_a_dm_opened_from_two_stores_is_one_room(pair: list[ChatStore]) -> None:
    one, two = pair
    alice, bob, carol = [await user(one, n) for n in ("alice", "bob", "carol")]
    attempts = [
        chat.open_dm([alice.id, bob.id, carol.id], creator.id, NOW)
        for chat in (one, two)
        for creator in (alice, bob, carol)
    ]
    results = await asyncio.gather(*attempts)
    assert len({dm.id for dm, _ in results}) == 1
    assert sum(len(events) for _, events in results) == 3
    assert [e.seq for e in await whole_log(one, results[0][0].id)] == [1, 2, 3]


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
            await two.add_member(room.id, author.id, author.id, NOW)

        async def node(
            store: SqlChatStore, index: int
        ) -> list[tuple[MessageRecord, RoomEvent | None]]:
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
        created = [message for message, event in results if event is not None]
        # What must have been stored: each distinct (author, client_id) once, and every
        # send without a client_id.
        keys = {(a, cid) for n in (1, 2) for a, _, cid in _plan(n) if cid is not None}
        anonymous = sum(cid is None for n in (1, 2) for _, _, cid in _plan(n))
        expected = len(keys) + anonymous
        assert len(created) == expected
        # Seqs 1..3 are the joins.
        first = len(authors)
        assert sorted(m.seq for m in created) == list(range(first, expected + first))

        # Every send of one (author, client_id), through either node, got the same message.
        by_key: dict[tuple[str, str], set[int]] = {}
        for message, _ in results:
            if message.client_id is not None:
                by_key.setdefault((message.author, message.client_id), set()).add(message.id)
        assert all(len(ids) == 1 for ids in by_key.values())
        assert len(by_key) == len(keys)

        stored = await two.messages_after(room.id, 0, 2 * PER_NODE)
        assert [m.seq for m in stored] == list(range(len(authors), expected + len(authors)))
        assert {m.id for m in stored} == {m.id for m in created}
        lobby = await one.get_room("lobby")
        assert lobby is not None and lobby.last_seq == expected + len(authors) - 1

        # Each node kept to its pool: never more than the setting's connections apiece.
        assert watch.samples, "the watcher never sampled"
        assert watch.peak <= 2 * POOL_SIZE
        # Both nodes wrote at once (group commit: one room's writes share one connection).
        assert watch.peak >= 2
    finally:
        await one.close()
        await two.close()


async def test_a_client_id_repeated_within_one_batch_returns_the_first(url: str) -> None:
    """Both sends of one client_id land in one group-commit batch: the repeat's unique
    violation reaches the store after the batch committed (callers get their outcomes
    after COMMIT), so it finds the first instead of failing."""
    settings = Settings(database_url=url, database_pool_size=POOL_SIZE, data_dir=Path("unused"))
    store: SqlChatStore = await open_chat_store(settings)
    try:
        author = await store.create_user("author", "hash", NOW)
        lobby = await store.create_room("lobby", "", False, author.id, NOW)
        filler = [_new(lobby, author, f"filler {i}") for i in range(10)]
        twice = [_new(lobby, author, "once", "same-id") for _ in range(2)]
        results = await asyncio.gather(*(store.append_message(new) for new in filler + twice))
        first, repeat = results[-2:]
        assert first[0].id == repeat[0].id
        assert [event is None for _, event in (first, repeat)].count(True) == 1
    finally:
        await store.close()
