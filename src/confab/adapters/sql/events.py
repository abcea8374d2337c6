"""The room log on SQL: seq assignment, storing events, replay and redaction.

Seq assignment: the room row is the counter. `UPDATE rooms SET last_seq = last_seq + n
... RETURNING last_seq` runs in the transaction that makes the change and stores its
event, so the row lock (PostgreSQL) or the database write lock (SQLite) orders concurrent
writers, and a rollback gives the seqs back: seqs are gap-free and totally ordered per
room, across processes.

An operation that finds, after taking its seq, that nothing changes (the same reaction
twice, a read marker not moving) raises `Unchanged`: the transaction (or its savepoint)
rolls back, seq included, and the store returns the value it carries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from confab.adapters.chatlog import redacted
from confab.adapters.sql.engine import defer_insert, flush_deferred
from confab.adapters.sql.prepared import Prepared
from confab.adapters.sql.tables import events, rooms
from confab.core.errors import NotFound
from confab.core.roomlog import RoomEvent

_B = sa.bindparam


class Unchanged(Exception):  # a signal, not an error
    """Raised inside an operation to roll it back and return `value` instead."""

    def __init__(self, value: Any) -> None:
        super().__init__("unchanged")
        self.value = value


class Locked(NamedTuple):
    """A room row read under its lock."""

    name: str
    last_seq: int
    owner_id: int


# Run on the driver's cursor (`prepared.py`): every change takes a seq.
_TAKE = Prepared(
    rooms.update()
    .where(rooms.c.id == _B("room_id"))
    .values(last_seq=rooms.c.last_seq + _B("n"))
    .returning(rooms.c.last_seq, rooms.c.name)
)
# A message's seq also counts the message (the base of every member's unread counter).
# The statement itself is public: PostgreSQL's send folds it into its own (messages.py).
TAKE_MESSAGE_SEQ = (
    rooms.update()
    .where(rooms.c.id == _B("room_id"))
    .values(last_seq=rooms.c.last_seq + 1, message_count=rooms.c.message_count + 1)
    .returning(rooms.c.last_seq, rooms.c.name)
)
_TAKE_MESSAGE = Prepared(TAKE_MESSAGE_SEQ)
_LOCK = (
    sa.select(rooms.c.name, rooms.c.last_seq, rooms.c.owner_id)
    .where(rooms.c.id == _B("room_id"))
    .with_for_update()
)
_INSERT = Prepared(events.insert().values({c.name: _B(c.name) for c in events.c}))
_AFTER = (
    sa.select(events.c.seq, events.c.type, events.c.subject, events.c.payload)
    .where(events.c.room_id == _B("room_id"), events.c.seq > _B("after"))
    .order_by(events.c.seq)
    .limit(_B("limit"))
)
_ROOM_NAME = sa.select(rooms.c.name).where(rooms.c.id == _B("room_id"))


def take_seqs(conn: Connection, room_id: int, n: int = 1) -> tuple[int, str]:
    """Bump the room's counter by `n`: (the first of the n new seqs, the room's name).

    `NotFound("room_not_found")` if the room is gone.
    """
    row = _TAKE.first(conn, {"room_id": room_id, "n": n})
    if row is None:
        raise NotFound(f"no room {room_id}", code="room_not_found")
    last_seq, name = row
    return int(last_seq) - n + 1, str(name)


def take_message_seq(conn: Connection, room_id: int) -> tuple[int, str]:
    """`take_seqs` for one message: the room's message count goes up with it."""
    row = _TAKE_MESSAGE.first(conn, {"room_id": room_id})
    if row is None:
        raise NotFound(f"no room {room_id}", code="room_not_found")
    last_seq, name = row
    return int(last_seq), str(name)


def lock_room(conn: Connection, room_id: int) -> Locked:
    """Read the room row and hold its lock until the transaction ends (SQLite: the
    write transaction holds the database lock already)."""
    row = conn.execute(_LOCK, {"room_id": room_id}).first()
    if row is None:
        raise NotFound(f"no room {room_id}", code="room_not_found")
    return Locked(str(row.name), int(row.last_seq), int(row.owner_id))


def store(
    conn: Connection, room_id: int, event: RoomEvent, at: datetime, target: int | None = None
) -> RoomEvent:
    """Insert `event` (its seq was taken in this transaction; in a batch, with the
    batch's other events); `target` names the message whose content it carries."""
    defer_insert(
        conn,
        _INSERT,
        {
            "room_id": room_id,
            "seq": event.seq,
            "type": event.type,
            "subject": event.subject,
            "target": target,
            "payload": event.payload,
            "created_at": at,
        },
    )
    return event


def events_after(conn: Connection, room_id: int, after: int, limit: int) -> list[RoomEvent]:
    """The oldest `limit` events with seq > `after`, as stored (redactions applied)."""
    name = conn.execute(_ROOM_NAME, {"room_id": room_id}).scalar_one_or_none()
    if name is None or limit <= 0:
        return []
    rows = conn.execute(_AFTER, {"room_id": room_id, "after": after, "limit": limit})
    return [
        RoomEvent(
            room=name, seq=row.seq, type=row.type, subject=row.subject, payload=bytes(row.payload)
        )
        for row in rows
    ]


def redact(conn: Connection, room_id: int, message_id: int, message_seq: int) -> None:
    """Blank the content of a message in every stored event that carries it."""
    flush_deferred(conn)  # its events may be waiting in this very batch
    query = sa.select(events.c.seq, events.c.payload).where(
        events.c.room_id == room_id,
        sa.or_(events.c.seq == message_seq, events.c.target == message_id),
    )
    for row in conn.execute(query).all():
        blank = redacted(bytes(row.payload))
        if blank != bytes(row.payload):
            conn.execute(
                events.update()
                .where(events.c.room_id == room_id, events.c.seq == row.seq)
                .values(payload=blank)
            )
