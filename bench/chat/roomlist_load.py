"""Bulk-load a room-list database: one reader in N rooms, a million events, in plain SQL.

The room list (`GET /api/rooms`) counts, per room, the reader's unread messages and
mentions past their read marker. To time it on a database of realistic size the bench
needs ~1,000,000 events; written through the API that is hours, written here it is one
`INSERT ... SELECT` per table over a generated series (a recursive CTE on SQLite,
`generate_series` on PostgreSQL), seconds on either engine.

Shape (`Shape`): user 1 is the reader; users 2..1+others write. Rooms 1..`rooms` hold the
reader and `members - 1` writers, and `events_per_room` events each: every
`reaction_every`-th one a `reaction_added` (a row in `reactions`), the others `message`s
(a row in `messages`), one message in `mention_every` mentions the reader (a row in
`mentions`), and one in ten is the reader's own (not unread). The reader's read marker
is spread over each room's log, so unread counts run from 0 to past the 1,000 cap.
`public_extra` more public rooms the reader is not in are listed too (empty logs).

Written for the event-log schema (migration 0002): the SQL names its columns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from confab.adapters.sql.rooms import RECOUNT_COUNTERS

Engine = Literal["sqlite", "postgres"]
READER_TOKEN_BYTES = 32


@dataclass(frozen=True)
class Shape:
    """How big the database is."""

    rooms: int = 500
    events_per_room: int = 2000
    members: int = 10
    others: int = 50
    public_extra: int = 100
    reaction_every: int = 20
    mention_every: int = 100

    def __post_init__(self) -> None:
        if self.others < self.members - 1 or min(self.rooms, self.events_per_room) < 1:
            raise ValueError("a room needs members - 1 distinct writers, and events")

    @property
    def events(self) -> int:
        """Events in the whole database."""
        return self.rooms * self.events_per_room

    def author(self, room: int, seq: int) -> int:
        """The user id that wrote event `seq` of room `room` (1: the reader)."""
        slot = seq % self.members
        if slot == 0:
            return 1
        return 2 + (room * 7 + slot) % self.others

    def read_seq(self, room: int) -> int:
        """The reader's marker in `room`: spread over the log, deterministic."""
        return (room * 7919) % (self.events_per_room + 1)


def token_hash(token: str) -> str:
    """What Confab stores for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _series(engine: Engine, name: str, upto: int | str) -> str:
    """A CTE `name(n)` counting 1..`upto`."""
    if engine == "postgres":
        return f"{name}(n) AS (SELECT generate_series(1, {upto}) AS n)"
    return f"{name}(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM {name} WHERE n < {upto})"


def statements(engine: Engine, shape: Shape, reader_token: str, now: datetime) -> Iterator[str]:
    """The SQL that fills an empty, migrated database (one transaction)."""
    moment = now.astimezone(UTC)
    later = moment + timedelta(days=365)
    cat = "||"
    if engine == "sqlite":

        def when(at: datetime) -> str:
            return "'" + at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") + "'"

        false, blob, json = "0", "CAST({} AS BLOB)", "{}"
        recursive = "WITH RECURSIVE"
    else:

        def when(at: datetime) -> str:
            return "'" + at.isoformat() + "'::timestamptz"

        false, blob, json = "false", "convert_to({}, 'UTF8')", "CAST({} AS json)"
        recursive = "WITH"
    ts = when(moment)
    iso = moment.isoformat().replace("+00:00", "Z")
    empty, named = "'[]'", "'[\"rl1\"]'"
    users = 1 + shape.others
    rooms = shape.rooms + shape.public_extra
    n, e, m = shape.events_per_room, shape.reaction_every, shape.mention_every
    yield (
        f"{recursive} {_series(engine, 'u', users)} "
        "INSERT INTO users (id, username, password_hash, created_at) "
        f"SELECT n, 'rl' {cat} n, '!bench-seeded', {ts} FROM u"
    )
    yield (
        "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) "
        f"VALUES ('{token_hash(reader_token)}', 1, {ts}, {when(later)})"
    )
    # Rooms: the first `rooms` hold the reader (owned by them), the rest are others' rooms.
    yield (
        f"{recursive} {_series(engine, 'r', rooms)} "
        "INSERT INTO rooms (id, name, topic, private, owner_id, last_seq, created_at, kind, title) "
        f"SELECT n, 'rlroom' {cat} n, '', {false}, CASE WHEN n <= {shape.rooms} THEN 1 ELSE 2 END, "
        f"CASE WHEN n <= {shape.rooms} THEN {n} ELSE 0 END, {ts}, 'room', '' FROM r"
    )
    # Members: the reader (owner) and members-1 writers per reader room.
    writers = _series(engine, "k", shape.members - 1)
    yield (
        f"{recursive} {_series(engine, 'r', shape.rooms)}, {writers} "
        "INSERT INTO memberships (room_id, user_id, joined_at, role, read_seq, notify) "
        f"SELECT r.n, 2 + (r.n * 7 + k.n) % {shape.others}, {ts}, 'member', {n}, 'all' "
        "FROM r CROSS JOIN k"
    )
    yield (
        f"{recursive} {_series(engine, 'r', shape.rooms)} "
        "INSERT INTO memberships (room_id, user_id, joined_at, role, read_seq, notify) "
        f"SELECT n, 1, {ts}, 'owner', (n * 7919) % {n + 1}, 'all' FROM r"
    )
    author = (
        f"CASE WHEN s.n % {shape.members} = 0 THEN 1 "
        f"ELSE 2 + (r.n * 7 + s.n % {shape.members}) % {shape.others} END"
    )
    pairs = f"{recursive} {_series(engine, 'r', shape.rooms)}, {_series(engine, 's', n)} "
    yield (
        pairs + "INSERT INTO messages (room_id, seq, author_id, text, client_id, created_at, "
        "edited_at, deleted, attachments, previews, reply_to, thread_root, reply_count, "
        "last_reply_at, mentions, mentions_room) "
        f"SELECT r.n, s.n, {author}, "
        f"CASE WHEN s.n % {m} = 7 THEN '@rl1 look at this' "
        "ELSE 'a line of chat in a busy room' END, "
        f"NULL, {ts}, NULL, {false}, {json.format(empty)}, {json.format(empty)}, NULL, NULL, 0, "
        f"NULL, CASE WHEN s.n % {m} = 7 THEN {json.format(named)} ELSE NULL END, {false} "
        f"FROM r CROSS JOIN s WHERE s.n % {e} <> 0"
    )
    yield (
        "INSERT INTO mentions (user_id, room_id, seq, message_id) "
        f"SELECT 1, room_id, seq, id FROM messages WHERE seq % {m} = 7 AND author_id <> 1"
    )
    # Reactions: every e-th event reacts to the message before it.
    yield (
        "INSERT INTO reactions (message_id, emoji, user_id, seq) "
        f"SELECT id, 'thumbsup', author_id, seq + 1 FROM messages WHERE (seq + 1) % {e} = 0"
    )
    frame = (
        '\'{"type":"message","id":0,"room":"rlroom\' '
        f'{cat} r.n {cat} \'","seq":\' {cat} s.n {cat} '
        f'\',"author":"rl2","text":"a line of chat in a busy room","created_at":"{iso}"}}\''
    )
    reaction = (
        '\'{"type":"reaction_added","room":"rlroom\' '
        f'{cat} r.n {cat} \'","seq":\' {cat} s.n {cat} \',"emoji":"thumbsup","user":"rl2"}}\''
    )
    yield (
        pairs + "INSERT INTO events (room_id, seq, type, subject, target, payload, created_at) "
        f"SELECT r.n, s.n, CASE WHEN s.n % {e} = 0 THEN 'reaction_added' ELSE 'message' END, "
        f"CASE WHEN s.n % {e} = 0 THEN 'rl2' ELSE NULL END, NULL, "
        f"CASE WHEN s.n % {e} = 0 THEN {blob.format(reaction)} ELSE {blob.format(frame)} END, "
        f"{ts} FROM r CROSS JOIN s"
    )
    yield from RECOUNT_COUNTERS  # the rows went in behind the store's back
    if engine == "postgres":
        for table in ("users", "rooms", "messages"):
            yield (
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    yield "ANALYZE"


def expected_counts(shape: Shape, cap: int = 1000) -> dict[int, tuple[int, int]]:
    """Per reader room: (unread, mentions) the listing must show (the cap applied)."""
    out: dict[int, tuple[int, int]] = {}
    for room in range(1, shape.rooms + 1):
        marker = shape.read_seq(room)
        unread = mentions = 0
        for seq in range(marker + 1, shape.events_per_room + 1):
            if seq % shape.reaction_every == 0:
                continue
            if shape.author(room, seq) == 1:
                continue
            unread += 1
            if seq % shape.mention_every == 7:
                mentions += 1
        out[room] = (min(unread, cap), mentions)
    return out
