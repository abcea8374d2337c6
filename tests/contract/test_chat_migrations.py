"""The chat schema: migrations on SQLite and PostgreSQL, from empty and from a 0001
database that already holds messages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.engine import Database, normalize_url
from confab.adapters.sql.migrate import (
    alembic_config,
    check_schema_current,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from confab.adapters.sql.tables import metadata
from confab.core import roomlog
from confab.core.errors import InvalidInput, Unavailable
from tests.contract.chat_databases import empty_database
from tests.contract.chat_records import NOW, frame, new_message

KINDS = ["sqlite", "postgresql"]


async def _schema_diff(url: str) -> list[object]:
    database = Database(url, pooled=False)
    try:
        return await database.read(
            lambda conn: compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
        )
    finally:
        await database.close()


async def _database_at(url: str, revision: str, rows: Sequence[str]) -> None:
    """Migrate the empty database at `url` to `revision` and write `rows` (SQL of that
    schema, ids given: PostgreSQL's sequences are moved past them)."""

    def write(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), revision)
        for statement in rows:
            conn.execute(text(statement))
        if conn.dialect.name == "postgresql":
            for table in ("users", "rooms", "messages"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)"))

    database = Database(url, pooled=False)
    try:
        await database.write(write)
    finally:
        await database.close()


@pytest.mark.parametrize("kind", KINDS)
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
        assert await current_revision(database_url) == head_revision() == "0004"
        assert await _schema_diff(database_url) == []


# A 0001 database as a running confab left it: two rooms, members, live, edited and
# deleted messages (the last one with a client_id and previews), written with plain SQL.
_ROWS_0001 = (
    "INSERT INTO users (id, username, password_hash, created_at) VALUES"
    " (1, 'alice', 'h', '2024-06-01 12:00:00'), (2, 'bob', 'h', '2024-06-01 12:00:00')",
    "INSERT INTO rooms (id, name, topic, private, owner_id, last_seq, created_at) VALUES"
    " (1, 'lobby', 'old', false, 1, 3, '2024-06-01 12:00:00'),"
    " (2, 'quiet', '', true, 2, 0, '2024-06-01 12:00:00')",
    "INSERT INTO memberships (room_id, user_id, joined_at) VALUES"
    " (1, 1, '2024-06-01 12:00:00'), (1, 2, '2024-06-01 12:00:00'),"
    " (2, 2, '2024-06-01 12:00:00')",
    "INSERT INTO messages (id, room_id, seq, author_id, text, client_id, created_at,"
    " edited_at, deleted, attachments, previews) VALUES"
    " (1, 1, 1, 1, 'hello', NULL, '2024-06-01 12:00:00', NULL, false, '[]', '[]'),"
    " (2, 1, 2, 2, '', NULL, '2024-06-01 12:00:01', NULL, true, '[]', '[]'),"
    " (3, 1, 3, 1, 'edited', 'c-1', '2024-06-01 12:00:02', '2024-06-01 12:01:00', false,"
    ' \'[]\', \'[{"url": "https://x.org", "title": "X"}]\')',
)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_0001_database_with_messages_migrates_to_the_event_log(
    kind: str, tmp_path: Path
) -> None:
    async with empty_database(kind, tmp_path) as url:
        await _database_at(url, "0001", _ROWS_0001)
        assert await current_revision(url) == "0001"
        with pytest.raises(Unavailable):
            await check_schema_current(url)

        await upgrade_to_head(url)
        await check_schema_current(url)
        assert await _schema_diff(url) == []

        store = SqlChatStore.open(url, pool_size=2)
        try:
            lobby = await store.get_room("lobby")
            assert lobby is not None
            assert (lobby.last_seq, lobby.kind, lobby.title, lobby.topic) == (3, "room", "", "old")
            log = await store.events_after(lobby.id, 0, 10)
            assert [(e.seq, e.type) for e in log] == [
                (1, "message"),
                (2, "message"),
                (3, "message"),
            ]
            # Each backfilled event is, byte for byte, the frame the store makes now.
            history = await store.messages_after(lobby.id, 0, 10)
            assert [e.payload for e in log] == [roomlog.message_posted(m).payload for m in history]
            assert frame(log[0])["created_at"] == "2024-06-01T12:00:00Z"
            assert frame(log[1])["deleted"] is True and frame(log[1])["text"] == ""
            assert frame(log[2])["previews"] == [{"url": "https://x.org", "title": "X"}]
            assert frame(log[2])["edited_at"] == "2024-06-01T12:01:00Z"
            assert frame(log[2])["client_id"] == "c-1"

            # Owners got their role; everyone has read what was there.
            alice = await store.get_user("alice")
            bob = await store.get_user("bob")
            assert alice is not None and bob is not None
            access = await store.room_access("lobby", alice.id)
            assert access is not None and (access.role, access.read_seq) == ("owner", 3)
            access = await store.room_access("lobby", bob.id)
            assert access is not None and (access.role, access.read_seq) == ("member", 3)
            listed = {s.room.name: s for s in await store.list_rooms(bob.id)}
            assert (listed["lobby"].unread, listed["quiet"].role) == (0, "owner")

            # The old rooms go on: the next change takes seq 4, old client ids still hold.
            message, event = await store.append_message(
                new_message(lobby, alice, "after the upgrade", at=NOW)
            )
            assert event is not None and message.seq == 4
            again, none = await store.append_message(
                new_message(lobby, alice, "edited", "c-1", at=NOW)
            )
            assert none is None and again.id == 3
            _, deleted = await store.delete_message(lobby.id, 1, alice.id, NOW)
            assert deleted is not None and deleted.seq == 5
            first = (await store.events_after(lobby.id, 0, 1))[0]
            assert frame(first)["text"] == "" and frame(first)["deleted"] is True
        finally:
            await store.close()


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


# A 0002 database with unread messages: lobby (seq 1..6) by alice and bob, seq 3 deleted,
# seq 4 bob's; alice read up to 2, bob up to 0, carol (joined late) up to 5.
_ROWS_0002 = (
    "INSERT INTO users (id, username, password_hash, created_at) VALUES"
    " (1, 'alice', 'h', '2024-06-01 12:00:00'), (2, 'bob', 'h', '2024-06-01 12:00:00'),"
    " (3, 'carol', 'h', '2024-06-01 12:00:00')",
    "INSERT INTO rooms (id, name, topic, private, owner_id, last_seq, created_at, kind, title)"
    " VALUES (1, 'lobby', '', false, 1, 6, '2024-06-01 12:00:00', 'room', '')",
    "INSERT INTO memberships (room_id, user_id, joined_at, role, read_seq) VALUES"
    " (1, 1, '2024-06-01 12:00:00', 'owner', 2), (1, 2, '2024-06-01 12:00:00', 'member', 0),"
    " (1, 3, '2024-06-01 12:00:00', 'member', 5)",
    "INSERT INTO messages (id, room_id, seq, author_id, text, created_at, deleted,"
    " attachments, previews, reply_count, mentions_room) VALUES"
    " (1, 1, 1, 1, 'a1', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (2, 1, 2, 2, 'b2', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (3, 1, 3, 1, '', '2024-06-01 12:00:00', true, '[]', '[]', 0, false),"
    " (4, 1, 4, 2, 'b4', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (5, 1, 5, 1, 'a5', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (6, 1, 6, 2, 'b6', '2024-06-01 12:00:00', false, '[]', '[]', 0, false)",
)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_0002_database_gets_exact_unread_counters(kind: str, tmp_path: Path) -> None:
    async with empty_database(kind, tmp_path) as url:
        await _database_at(url, "0002", _ROWS_0002)
        await upgrade_to_head(url)
        assert await _schema_diff(url) == []
        store = SqlChatStore.open(url, pool_size=2)
        try:

            async def unread(name: str) -> int:
                who = await store.get_user(name)
                assert who is not None
                return {s.room.name: s for s in await store.list_rooms(who.id)}["lobby"].unread

            # alice: bob's 4 and 6; bob: alice's 1 and 5 (3 is deleted); carol: bob's 6.
            assert [await unread(n) for n in ("alice", "bob", "carol")] == [2, 2, 1]
            lobby = await store.get_room("lobby")
            alice, bob = await store.get_user("alice"), await store.get_user("bob")
            assert lobby is not None and alice is not None and bob is not None
            await store.append_message(new_message(lobby, alice, "after", at=NOW))
            await store.delete_message(lobby.id, 6, bob.id, NOW)
            await store.mark_read(lobby.id, bob.id, 1, NOW)
            assert [await unread(n) for n in ("alice", "bob", "carol")] == [1, 2, 1]
        finally:
            await store.close()


# A 0003 database: lobby (seq 1..6, alice and bob in turn) with mentions of bob (1, 3, 5),
# carol (5, 6) and alice (2); alice read up to 2, bob up to 0, carol up to 5. `side` is
# bob's private room; `empty` a public room its owner left. Unread offsets as 0003 keeps
# them (message_count minus the unread count).
_ROWS_0003 = (
    "INSERT INTO users (id, username, password_hash, created_at) VALUES"
    " (1, 'alice', 'h', '2024-06-01 12:00:00'), (2, 'bob', 'h', '2024-06-01 12:00:00'),"
    " (3, 'carol', 'h', '2024-06-01 12:00:00'), (4, 'dave', 'h', '2024-06-01 12:00:00')",
    "INSERT INTO rooms (id, name, topic, private, owner_id, last_seq, message_count,"
    " created_at, kind, title) VALUES"
    " (1, 'lobby', '', false, 1, 6, 6, '2024-06-01 12:00:00', 'room', ''),"
    " (2, 'side', '', true, 2, 0, 0, '2024-06-01 12:00:00', 'room', ''),"
    " (3, 'empty', '', false, 4, 0, 0, '2024-06-01 12:00:00', 'room', '')",
    "INSERT INTO memberships (room_id, user_id, joined_at, role, read_seq, unread_offset)"
    " VALUES (1, 1, '2024-06-01 12:00:00', 'owner', 2, 4),"
    " (1, 2, '2024-06-01 12:00:00', 'member', 0, 3),"
    " (1, 3, '2024-06-01 12:00:00', 'member', 5, 5),"
    " (2, 2, '2024-06-01 12:00:00', 'owner', 0, 0)",
    "INSERT INTO messages (id, room_id, seq, author_id, text, created_at, deleted,"
    " attachments, previews, reply_count, mentions_room) VALUES"
    " (1, 1, 1, 1, '@bob', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (2, 1, 2, 2, '@alice', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (3, 1, 3, 1, '@bob', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (4, 1, 4, 2, 'b4', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (5, 1, 5, 1, '@bob @carol', '2024-06-01 12:00:00', false, '[]', '[]', 0, false),"
    " (6, 1, 6, 2, '@carol', '2024-06-01 12:00:00', false, '[]', '[]', 0, false)",
    "INSERT INTO mentions (user_id, room_id, seq, message_id) VALUES"
    " (2, 1, 1, 1), (1, 1, 2, 2), (2, 1, 3, 3), (2, 1, 5, 5), (3, 1, 5, 5), (3, 1, 6, 6)",
)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_0003_database_gets_exact_member_and_mention_counters(
    kind: str, tmp_path: Path
) -> None:
    async with empty_database(kind, tmp_path) as url:
        await _database_at(url, "0003", _ROWS_0003)
        assert await current_revision(url) == "0003"
        await upgrade_to_head(url)
        assert await current_revision(url) == "0004"
        assert await _schema_diff(url) == []
        store = SqlChatStore.open(url, pool_size=2)
        try:
            people = {n: await store.get_user(n) for n in ("alice", "bob", "carol", "dave")}

            async def listed(name: str) -> dict[str, tuple[int, int, int]]:
                who = people[name]
                assert who is not None
                return {
                    s.room.name: (s.members, s.unread, s.mentions)
                    for s in await store.list_rooms(who.id)
                }

            # Mentions past each marker: alice's (2) is read, bob has 1, 3, 5, carol 6.
            assert await listed("alice") == {"empty": (0, 0, 0), "lobby": (3, 2, 0)}
            assert await listed("bob") == {
                "empty": (0, 0, 0),
                "lobby": (3, 3, 3),
                "side": (1, 0, 0),
            }
            assert await listed("carol") == {"empty": (0, 0, 0), "lobby": (3, 1, 1)}

            # The counters go on from there.
            lobby = await store.get_room("lobby")
            alice, bob, dave = people["alice"], people["bob"], people["dave"]
            assert lobby is not None and alice is not None and bob is not None
            assert dave is not None
            await store.mark_read(lobby.id, bob.id, 3, NOW)
            await store.delete_message(lobby.id, 6, bob.id, NOW)
            await store.append_message(
                new_message(lobby, bob, "@alice again", at=NOW, mentions=("alice",))
            )
            await store.add_member(lobby.id, dave.id, dave.id, NOW)
            assert (await listed("alice"))["lobby"] == (4, 2, 1)
            assert (await listed("bob"))["lobby"] == (4, 1, 1)
            # Carol's mention (6) was deleted unread; the new message is unread for her.
            assert (await listed("carol"))["lobby"] == (4, 1, 0)
            # Dave joined at marker 0: every live message is unread, none mentions him.
            assert (await listed("dave"))["lobby"] == (4, 6, 0)
        finally:
            await store.close()
