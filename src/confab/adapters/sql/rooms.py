"""Rooms and DMs on SQL: records, access, the room list with unread counts, topic/title.

The room list reads rows and no count: the caller's memberships (by the index on user_id)
with their rooms, then the public rooms they are not in (by `ix_rooms_public`). Every
number is a column kept exact by the writes (see `tables`): the member count is
`rooms.member_count`, the unread count the room's `message_count` minus the membership's
`unread_offset` (capped at `UNREAD_CAP`), the mention count `memberships.mention_count`.
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
from confab.adapters.sql.tables import bans, memberships, rooms, users
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

# Rebuilds every counter from the stored rows (for rows written behind the store's back:
# bulk loads, benchmarks). Migrations 0003 and 0004 keep their own frozen copies.
RECOUNT_COUNTERS = (
    "UPDATE rooms SET message_count ="
    " (SELECT count(*) FROM messages WHERE messages.room_id = rooms.id)",
    "UPDATE memberships SET unread_offset ="
    " (SELECT message_count FROM rooms WHERE rooms.id = memberships.room_id)"
    " - (SELECT count(*) FROM messages WHERE messages.room_id = memberships.room_id"
    " AND messages.seq > memberships.read_seq"
    " AND messages.author_id <> memberships.user_id"
    " AND messages.deleted = false)",
    "UPDATE rooms SET member_count ="
    " (SELECT count(*) FROM memberships WHERE memberships.room_id = rooms.id)",
    "UPDATE memberships SET mention_count ="
    " (SELECT count(*) FROM mentions WHERE mentions.user_id = memberships.user_id"
    " AND mentions.room_id = memberships.room_id AND mentions.seq > memberships.read_seq)",
)

_unread = rooms.c.message_count - _me.c.unread_offset
_UNREAD = sa.case((_unread > UNREAD_CAP, UNREAD_CAP), else_=_unread)
_PUBLIC = sa.and_(rooms.c.kind == "room", rooms.c.private == sa.false())
# The caller's rooms (through the memberships index on user_id), then the public rooms
# they are not in (through ix_rooms_public): every number read from a row, no count.
_MINE = (
    sa.select(
        *ROOM_COLUMNS,
        rooms.c.member_count,
        _me.c.role,
        _me.c.read_seq,
        _me.c.notify,
        _UNREAD.label("unread"),
        _me.c.mention_count,
    )
    .select_from(_me.join(_ROOMS_WITH_OWNER, rooms.c.id == _me.c.room_id))
    .where(_me.c.user_id == _B("user_id"))
)
_OTHERS_PUBLIC = (
    sa.select(
        *ROOM_COLUMNS,
        rooms.c.member_count,
        *(sa.null() for _ in range(5)),  # not a member: no role, marker or counts
    )
    .select_from(_ROOMS_WITH_OWNER)
    .where(
        _PUBLIC,
        ~sa.select(memberships.c.user_id)
        .where(memberships.c.room_id == rooms.c.id, memberships.c.user_id == _B("user_id"))
        .exists(),
    )
)
_LIST = sa.union_all(_MINE, _OTHERS_PUBLIC).order_by(sa.literal_column("name"))
_DM_PARTICIPANTS = (
    sa.select(_me.c.room_id, users.c.username)
    .select_from(
        _me.join(rooms, rooms.c.id == _me.c.room_id)
        .join(memberships, memberships.c.room_id == _me.c.room_id)
        .join(users, users.c.id == memberships.c.user_id)
    )
    .where(_me.c.user_id == _B("user_id"), rooms.c.kind == "dm")
    .order_by(_me.c.room_id, users.c.username)
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
        "member_count": 1,
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
        "member_count": len(people),
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
    """Member rooms and DMs and every public room, by name, with unread counts (and each
    DM's participants, from one more statement when there is a DM)."""
    summaries = []
    dms: dict[int, int] = {}  # room id -> index in summaries
    # Positional: a thousand rows read by attribute name cost more than the query.
    for values in conn.execute(_LIST, {"user_id": user_id}).all():
        room = RoomRecord(*values[:_ROOM_WIDTH])
        members, role, read_seq, notify, unread, mentions = values[_ROOM_WIDTH:]
        if role is None:
            summaries.append(RoomSummary(room, False, members))
            continue
        if room.kind == "dm":
            dms[room.id] = len(summaries)
        summaries.append(RoomSummary(room, True, members, role, read_seq, unread, mentions, notify))
    if dms:
        people: dict[int, list[str]] = {}
        for room_id, username in conn.execute(_DM_PARTICIPANTS, {"user_id": user_id}).all():
            people.setdefault(room_id, []).append(username)
        for room_id, index in dms.items():
            summary = summaries[index]
            summaries[index] = summary._replace(participants=tuple(people.get(room_id, ())))
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
