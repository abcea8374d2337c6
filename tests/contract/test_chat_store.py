"""Every ChatStore passes the same contract: SQLite (WAL) and PostgreSQL, real engines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.engine import Database, normalize_url
from confab.adapters.sql.migrate import (
    check_schema_current,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from confab.adapters.sql.tables import metadata
from confab.core.chatstore import ChatStore, NewMessage, RoomRecord, UserRecord
from confab.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from tests.contract.chat_databases import empty_database
from tests.contract.chat_records import new_message

NOW = datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with empty_database(request.param, tmp_path) as database_url:
        await upgrade_to_head(database_url)
        yield database_url


@pytest.fixture
async def store(url: str) -> AsyncIterator[ChatStore]:
    chat_store = SqlChatStore.open(url, pool_size=4)
    yield chat_store
    await chat_store.close()


async def _user(store: ChatStore, name: str) -> UserRecord:
    return await store.create_user(name, f"hash-of-{name}", NOW)


async def _room(
    store: ChatStore, name: str, owner: UserRecord, private: bool = False
) -> RoomRecord:
    return await store.create_room(name, f"about {name}", private, owner.id, NOW)


def _new(
    room: RoomRecord, author: UserRecord, text: str, client_id: str | None = None
) -> NewMessage:
    return new_message(room, author, text, client_id, at=NOW)


# schema


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_schema_is_checked_then_migrated_and_matches_the_tables(
    kind: str, tmp_path: Path
) -> None:
    async with empty_database(kind, tmp_path) as database_url:
        with pytest.raises(Unavailable) as behind:
            await check_schema_current(database_url)
        assert behind.value.reason == "schema_out_of_date"
        assert "confab migrate" in behind.value.detail
        assert await current_revision(database_url) is None

        await upgrade_to_head(database_url)
        await upgrade_to_head(database_url)  # a second run is a no-op
        await check_schema_current(database_url)
        assert await current_revision(database_url) == head_revision()

        database = Database(database_url, pooled=False)
        try:
            diff = await database.read(
                lambda conn: compare_metadata(
                    MigrationContext.configure(conn, opts={"compare_type": True}), metadata
                )
            )
        finally:
            await database.close()
        assert diff == []


def test_urls_are_normalized_to_async_drivers() -> None:
    assert normalize_url("sqlite:////x/c.db") == "sqlite+pysqlite:////x/c.db"
    assert normalize_url("sqlite+aiosqlite:////x/c.db") == "sqlite+pysqlite:////x/c.db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(InvalidInput):
        normalize_url("mysql://u@h/db")
    for in_memory in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(InvalidInput):
            Database(in_memory)


async def test_an_unreachable_database_is_unavailable() -> None:
    # Port 9 (discard) is closed on the test machine: the connection is refused.
    store = SqlChatStore.open("postgresql://postgres@127.0.0.1:9/nothing")
    try:
        with pytest.raises(Unavailable) as failed:
            await store.get_user("alice")
        assert failed.value.reason == "database_unavailable"
    finally:
        await store.close()


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'wal.db'}"
    await upgrade_to_head(database_url)
    database = Database(database_url)

    def pragmas(conn: Connection) -> list[object]:
        return [
            conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        ]

    try:
        # synchronous=2 is FULL: an acknowledged message survives a power cut.
        assert await database.read(pragmas) == ["wal", 10000, 1, 2]
    finally:
        await database.close()


# accounts and tokens


async def test_users_are_unique_and_round_trip(store: ChatStore) -> None:
    alice = await _user(store, "alice")
    assert alice.id > 0
    found = await store.get_user("alice")
    assert found == alice
    assert found is not None and found.created_at == NOW
    assert found.created_at.tzinfo is not None
    assert await store.get_user("bob") is None
    with pytest.raises(Conflict) as taken:
        await _user(store, "alice")
    assert taken.value.reason == "username_taken"
    await store.set_password_hash(alice.id, "new-hash")
    again = await store.get_user("alice")
    assert again is not None and again.password_hash == "new-hash"


async def test_tokens_expire_and_are_revoked(store: ChatStore) -> None:
    alice = await _user(store, "alice")
    await store.create_token("a" * 64, alice.id, NOW, NOW + timedelta(hours=1))
    await store.create_token("b" * 64, alice.id, NOW, NOW + timedelta(seconds=1))
    assert await store.user_for_token("a" * 64, NOW) == alice
    assert await store.user_for_token("b" * 64, NOW + timedelta(seconds=2)) is None
    assert await store.user_for_token("c" * 64, NOW) is None
    assert await store.delete_expired_tokens(alice.id, NOW + timedelta(seconds=2)) == 1
    await store.delete_token("a" * 64)
    await store.delete_token("a" * 64)  # unknown: not an error
    assert await store.user_for_token("a" * 64, NOW) is None


# rooms and membership


async def test_rooms_list_access_and_counts(store: ChatStore) -> None:
    alice, bob, carol = [await _user(store, n) for n in ("alice", "bob", "carol")]
    lobby = await _room(store, "lobby", alice)
    secret = await _room(store, "secret", alice, private=True)
    assert (lobby.owner, lobby.owner_id, lobby.last_seq, lobby.topic) == (
        "alice",
        alice.id,
        0,
        "about lobby",
    )
    assert secret.private
    with pytest.raises(Conflict) as taken:
        await _room(store, "lobby", bob)
    assert taken.value.reason == "room_taken"

    assert await store.get_room("lobby") == lobby
    assert await store.get_room("nope") is None
    access = await store.room_access("lobby", alice.id)
    assert access is not None and access.member and not access.banned
    access = await store.room_access("lobby", bob.id)
    assert access is not None and not access.member
    assert await store.room_access("nope", bob.id) is None

    assert await store.add_member(lobby.id, bob.id, NOW) is True
    assert await store.add_member(lobby.id, bob.id, NOW) is False
    assert await store.member_names(lobby.id) == ["alice", "bob"]
    assert await store.member_count(lobby.id) == 2

    listed = {s.room.name: s for s in await store.list_rooms(carol.id)}
    assert set(listed) == {"lobby"}  # public only: carol is in no private room
    assert listed["lobby"].members == 2 and not listed["lobby"].member
    listed = {s.room.name: s for s in await store.list_rooms(alice.id)}
    assert list(listed) == ["lobby", "secret"]
    assert listed["secret"].member and listed["secret"].members == 1


async def test_leaving_and_bans(store: ChatStore) -> None:
    alice, bob = await _user(store, "alice"), await _user(store, "bob")
    lobby = await _room(store, "lobby", alice)
    await store.add_member(lobby.id, bob.id, NOW)
    assert await store.remove_member(lobby.id, bob.id) is True
    assert await store.remove_member(lobby.id, bob.id) is False
    await store.add_member(lobby.id, bob.id, NOW)
    assert await store.ban(lobby.id, bob.id, NOW) is True
    assert await store.ban(lobby.id, bob.id, NOW) is False  # already out; still banned
    access = await store.room_access("lobby", bob.id)
    assert access is not None and access.banned and not access.member
    assert await store.member_names(lobby.id) == ["alice"]


# messages


async def test_seqs_are_consecutive_and_records_round_trip(store: ChatStore) -> None:
    alice = await _user(store, "alice")
    lobby = await _room(store, "lobby", alice)
    other = await _room(store, "other", alice)
    text = "héllo 👋 " + "x" * 3990
    sent = []
    for i in range(5):
        message, created = await store.append_message(_new(lobby, alice, f"{i} {text}"[:4000]))
        assert created
        sent.append(message)
    assert [m.seq for m in sent] == [1, 2, 3, 4, 5]
    first, _ = await store.append_message(_new(other, alice, "elsewhere"))
    assert first.seq == 1  # per room

    stored = await store.get_message(lobby.id, sent[0].id)
    assert stored == sent[0]
    assert stored is not None and stored.created_at == NOW and stored.room == "lobby"
    assert await store.get_message(other.id, sent[0].id) is None  # wrong room
    room = await store.get_room("lobby")
    assert room is not None and room.last_seq == 5


async def test_a_repeated_client_id_returns_the_first_and_leaves_no_gap(store: ChatStore) -> None:
    alice, bob = await _user(store, "alice"), await _user(store, "bob")
    lobby = await _room(store, "lobby", alice)
    first, created = await store.append_message(_new(lobby, alice, "one", "c-1"))
    assert created and first.client_id == "c-1"
    again, created = await store.append_message(_new(lobby, alice, "one, retried", "c-1"))
    assert not created and again == first
    theirs, created = await store.append_message(_new(lobby, bob, "bob's", "c-1"))
    assert created and theirs.seq == 2  # client ids are per author
    nxt, _ = await store.append_message(_new(lobby, alice, "two"))
    assert nxt.seq == 3


async def test_history_pages_in_both_directions(store: ChatStore) -> None:
    alice = await _user(store, "alice")
    lobby = await _room(store, "lobby", alice)
    for i in range(1, 11):
        await store.append_message(_new(lobby, alice, f"m{i}"))
    newest = await store.messages_before(lobby.id, None, 3)
    assert [m.seq for m in newest] == [8, 9, 10]
    older = await store.messages_before(lobby.id, 8, 3)
    assert [m.seq for m in older] == [5, 6, 7]
    assert [m.seq for m in await store.messages_before(lobby.id, 2, 5)] == [1]
    assert [m.seq for m in await store.messages_after(lobby.id, 0, 4)] == [1, 2, 3, 4]
    assert [m.seq for m in await store.messages_after(lobby.id, 8, 4)] == [9, 10]
    assert await store.messages_after(lobby.id, 10, 4) == []


async def test_edit_delete_and_previews(store: ChatStore) -> None:
    alice = await _user(store, "alice")
    lobby = await _room(store, "lobby", alice)
    upload = "ab" * 32
    message, _ = await store.append_message(
        NewMessage(lobby.id, "lobby", alice.id, "alice", "see https://x.org", None, (upload,), NOW)
    )
    assert message.attachments == (upload,)
    later = NOW + timedelta(minutes=1)
    edited = await store.edit_message(message.id, "edited", later)
    assert (edited.text, edited.edited_at, edited.seq) == ("edited", later, message.seq)

    preview = {"url": "https://x.org", "title": "X", "description": None, "image": None}
    with_preview = await store.set_previews(message.id, [preview])
    assert with_preview is not None and with_preview.previews == (preview,)

    deleted = await store.delete_message(message.id, later)
    assert deleted.deleted and deleted.text == "" and deleted.seq == message.seq
    assert deleted.attachments == () and deleted.previews == ()
    assert await store.set_previews(message.id, [preview]) is None
    with pytest.raises(NotFound):
        await store.edit_message(message.id, "too late", later)
    with pytest.raises(NotFound):
        await store.delete_message(10**9, later)
    stored = await store.get_message(lobby.id, message.id)
    assert stored == deleted


async def test_concurrent_writers_on_two_engines_get_gap_free_seqs(url: str) -> None:
    one, two = SqlChatStore.open(url, pool_size=4), SqlChatStore.open(url, pool_size=4)
    try:
        alice, bob = await _user(one, "alice"), await _user(one, "bob")
        lobby = await _room(one, "lobby", alice)
        await one.add_member(lobby.id, bob.id, NOW)
        per_writer = 25

        async def burst(store: ChatStore, author: UserRecord) -> list[int]:
            results = await asyncio.gather(
                *(
                    store.append_message(_new(lobby, author, f"{author.username} {i}"))
                    for i in range(per_writer)
                )
            )
            return [message.seq for message, created in results if created]

        seqs_one, seqs_two = await asyncio.gather(burst(one, alice), burst(two, bob))
        assert sorted(seqs_one + seqs_two) == list(range(1, 2 * per_writer + 1))
        stored = await one.messages_after(lobby.id, 0, 100)
        assert [m.seq for m in stored] == list(range(1, 2 * per_writer + 1))
        room = await two.get_room("lobby")
        assert room is not None and room.last_seq == 2 * per_writer
    finally:
        await one.close()
        await two.close()


async def test_a_client_id_raced_from_two_engines_is_stored_once(url: str) -> None:
    one, two = SqlChatStore.open(url, pool_size=4), SqlChatStore.open(url, pool_size=4)
    try:
        alice = await _user(one, "alice")
        lobby = await _room(one, "lobby", alice)
        attempts = [
            store.append_message(_new(lobby, alice, "once", "same-id"))
            for store in (one, two, one, two, one, two)
        ]
        results = await asyncio.gather(*attempts)
        assert sum(created for _, created in results) == 1
        assert len({message.id for message, _ in results}) == 1
        assert {message.seq for message, _ in results} == {1}
        after, created = await two.append_message(_new(lobby, alice, "next"))
        assert created and after.seq == 2  # the losers left no gap
    finally:
        await one.close()
        await two.close()
