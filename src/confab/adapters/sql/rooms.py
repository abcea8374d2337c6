"""Rooms and DMs on SQL: records, access, the room list with unread counts, topic/title.

The room list is one statement: for each member room, the unread count is the room's
message count minus the membership's `unread_offset` (kept exact by the writes: see
`tables.memberships`), capped at `UNREAD_CAP`, and the mention count a range of the
`mentions` primary key (user, room, seq > read_seq), a few entries for a reader who
keeps up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from confab.adapters.chatlog import dm_participants
from confab.adapters.sql import events as log
from confab.adapters.sql.accounts import AnyRow, names
from confab.adapters.sql.tables import bans, memberships, mentions, rooms, users
from confab.core import roomlog
from confab.core.chatstore import (
    UNREAD_CAP,
    Role,
    RoomAccess,
    RoomRecord,
    RoomSummary,
    dm_name,
)
from confab.core.errors import Conflict, NotFound
from confab.core.roomlog import RoomEvent

_B = sa.bindparam
_owner = users.alias("owner")
_me = memberships.alias("me")

ROOM_COLUMNS = (
    rooms.c.id,
    rooms.c.name,
    rooms.c.topic,
    rooms.c.private,
    rooms.c.owner_id,
    _owner.c.username.label("owner"),
    rooms.c.last_seq,
    rooms.c.created_at,
    rooms.c.kind,
    rooms.c.title,
)
# RoomRecord's fields, in its order.
_ROOM_WIDTH = len(ROOM_COLUMNS)
_ROOMS_WITH_OWNER = rooms.join(_owner, _owner.c.id == rooms.c.owner_id)
# The caller's membership row, if any (NULL columns for a non-member).
_WITH_ME = _ROOMS_WITH_OWNER.outerjoin(
    _me, sa.and_(_me.c.room_id == rooms.c.id, _me.c.user_id == _B("user_id"))
)
_MEMBER_COLUMNS = (
    _me.c.user_id.is_not(None).label("member"),
    _me.c.role,
    _me.c.read_seq,
    _me.c.notify,
)

_ROOM_ACCESS = (
    sa.select(
        *ROOM_COLUMNS,
        *_MEMBER_COLUMNS,
        sa.select(bans.c.user_id)
        .where(bans.c.room_id == rooms.c.id, bans.c.user_id == _B("user_id"))
        .exists()
        .label("banned"),
    )
    .select_from(_WITH_ME)
    .where(rooms.c.name == _B("name"))
)

# Rebuilds the unread counters from the stored messages (for rows written behind the
# store's back: bulk loads, benchmarks). Migration 0003 keeps its own frozen copy.
RECOUNT_UNREAD = (
    "UPDATE rooms SET message_count ="
    " (SELECT count(*) FROM messages WHERE messages.room_id = rooms.id)",
    "UPDATE memberships SET unread_offset ="
    " (SELECT message_count FROM rooms WHERE rooms.id = memberships.room_id)"
    " - (SELECT count(*) FROM messages WHERE messages.room_id = memberships.room_id"
    " AND messages.seq > memberships.read_seq"
    " AND messages.author_id <> memberships.user_id"
    " AND messages.deleted = false)",
)

_unread = rooms.c.message_count - _me.c.unread_offset
_UNREAD = sa.case((_unread > UNREAD_CAP, UNREAD_CAP), else_=_unread)
_MENTIONS = (
    sa.select(sa.func.count())
    .select_from(mentions)
    .where(
        mentions.c.user_id == _B("user_id"),
        mentions.c.room_id == rooms.c.id,
        mentions.c.seq > _me.c.read_seq,
    )
    .correlate(rooms, _me)
    .scalar_subquery()
)
_MEMBERS = (
    sa.select(sa.func.count())
    .select_from(memberships)
    .where(memberships.c.room_id == rooms.c.id)
    .correlate(rooms)
    .scalar_subquery()
)
_LIST = (
    sa.select(
        *ROOM_COLUMNS,
        *_MEMBER_COLUMNS,
        _MEMBERS.label("members"),
        sa.case((_me.c.user_id.is_(None), 0), else_=_UNREAD).label("unread"),
        sa.case((_me.c.user_id.is_(None), 0), else_=_MENTIONS).label("mentions"),
    )
    .select_from(_WITH_ME)
    .where(
        sa.or_(
            _me.c.user_id.is_not(None),
            sa.and_(rooms.c.kind == "room", rooms.c.private.is_(sa.false())),
        )
    )
    .order_by(rooms.c.name)
)


def room_record(row: AnyRow) -> RoomRecord:
    """A row of `ROOM_COLUMNS` as a record."""
    return RoomRecord(
        id=row.id,
        name=row.name,
        topic=row.topic,
        private=bool(row.private),
        owner_id=row.owner_id,
        owner=row.owner,
        last_seq=row.last_seq,
        created_at=row.created_at,
        kind=row.kind,
        title=row.title,
    )


def select_room(conn: Connection, where: sa.ColumnElement[bool]) -> RoomRecord | None:
    """The room matching `where`, or None."""
    query = sa.select(*ROOM_COLUMNS).select_from(_ROOMS_WITH_OWNER).where(where)
    row = conn.execute(query).first()
    return None if row is None else room_record(row)


def _insert_room(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(rooms.insert().values(**values).returning(rooms.c.id)).scalar_one())


def create_room(
    conn: Connection, name: str, topic: str, private: bool, owner_id: int, now: datetime
) -> RoomRecord:
    """Insert a room and its owner's membership (role "owner"); no event."""
    values = {
        "name": name,
        "topic": topic,
        "private": private,
        "owner_id": owner_id,
        "last_seq": 0,
        "created_at": now,
        "kind": "room",
        "title": "",
    }
    room_id = _insert_room(conn, values)
    conn.execute(
        memberships.insert().values(room_id=room_id, user_id=owner_id, joined_at=now, role="owner")
    )
    room = select_room(conn, rooms.c.id == room_id)
    assert room is not None
    return room


def open_dm(
    conn: Connection, user_ids: Sequence[int], creator_id: int, now: datetime
) -> tuple[RoomRecord, list[RoomEvent]]:
    """The DM of exactly these users, created with a `member_joined` per participant."""
    people = dm_participants(user_ids, creator_id)
    name = dm_name(people)
    existing = select_room(conn, rooms.c.name == name)
    if existing is not None:
        if existing.kind != "dm":
            raise Conflict(f"room {name!r} exists", code="room_taken")
        return existing, []
    usernames = names(conn, *people)
    if len(usernames) != len(people):
        raise NotFound("no such user", code="user_not_found")
    values = {
        "name": name,
        "topic": "",
        "private": True,
        "owner_id": creator_id,
        "last_seq": len(people),
        "created_at": now,
        "kind": "dm",
        "title": "",
    }
    room_id = _insert_room(conn, values)
    creator = usernames[creator_id]
    stored = []
    for seq, user_id in enumerate(people, start=1):
        role: Role = "owner" if user_id == creator_id else "member"
        conn.execute(
            memberships.insert().values(room_id=room_id, user_id=user_id, joined_at=now, role=role)
        )
        event = roomlog.member_joined(name, seq, usernames[user_id], creator, role)
        stored.append(log.store(conn, room_id, event, now))
    room = select_room(conn, rooms.c.id == room_id)
    assert room is not None
    return room, stored


def room_access(conn: Connection, name: str, user_id: int) -> RoomAccess | None:
    """The room as `user_id` sees it, membership and last_seq from one statement."""
    row = conn.execute(_ROOM_ACCESS, {"name": name, "user_id": user_id}).first()
    if row is None:
        return None
    if not row.member:
        return RoomAccess(room_record(row), member=False, banned=bool(row.banned))
    return RoomAccess(
        room_record(row),
        member=True,
        banned=bool(row.banned),
        role=row.role,
        read_seq=int(row.read_seq),
        notify=row.notify,
    )


def list_rooms(conn: Connection, user_id: int) -> list[RoomSummary]:
    """Member rooms and DMs and every public room, by name, with unread counts."""
    summaries = []
    # Positional: a thousand rows read by attribute name cost more than the query.
    for values in conn.execute(_LIST, {"user_id": user_id}).all():
        room = RoomRecord(*values[:_ROOM_WIDTH])
        member, role, read_seq, notify, members, unread, mentions = values[_ROOM_WIDTH:]
        if not member:
            summaries.append(RoomSummary(room, False, int(members)))
            continue
        summaries.append(
            RoomSummary(
                room, True, int(members), role, int(read_seq), int(unread), int(mentions), notify
            )
        )
    return summaries


def set_attribute(
    conn: Connection, room_id: int, column: str, value: str, actor_id: int, now: datetime
) -> RoomEvent | None:
    """Set the topic or the title: its event, None if unchanged."""
    locked = log.lock_room(conn, room_id)
    current = conn.execute(sa.select(rooms.c[column]).where(rooms.c.id == room_id)).scalar_one()
    if current == value:
        return None
    seq, name = log.take_seqs(conn, room_id)
    assert name == locked.name
    conn.execute(rooms.update().where(rooms.c.id == room_id).values({column: value}))
    actor = names(conn, actor_id)[actor_id]
    build = roomlog.topic_changed if column == "topic" else roomlog.title_changed
    return log.store(conn, room_id, build(name, seq, value, actor), now)


def delete_room(conn: Connection, room_id: int) -> bool:
    """Delete a room; its log, members, messages, reactions and mentions go with it."""
    return bool(conn.execute(rooms.delete().where(rooms.c.id == room_id)).rowcount)
