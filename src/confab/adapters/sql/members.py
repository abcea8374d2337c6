"""Membership, roles, bans, notification levels and read markers on SQL.

Each change locks the room row first (the seq counter), then checks and writes, so two
writers racing on one membership see each other's commit and the loser stores no event.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from confab.adapters.sql import events as log
from confab.adapters.sql.accounts import names
from confab.adapters.sql.prepared import Prepared
from confab.adapters.sql.tables import bans, memberships, mentions, messages, rooms, users
from confab.core import roomlog
from confab.core.chatstore import LeaveReason, MemberRecord, NotifyLevel, Role
from confab.core.errors import NotFound
from confab.core.roomlog import RoomEvent

_B = sa.bindparam


def _role(conn: Connection, room_id: int, user_id: int) -> str | None:
    query = sa.select(memberships.c.role).where(
        memberships.c.room_id == room_id, memberships.c.user_id == user_id
    )
    return conn.execute(query).scalar_one_or_none()


def _is_banned(conn: Connection, room_id: int, user_id: int) -> bool:
    query = sa.select(bans.c.user_id).where(bans.c.room_id == room_id, bans.c.user_id == user_id)
    return conn.execute(query).first() is not None


def _count_members(conn: Connection, room_id: int, change: int) -> None:
    """Move the room's member count with a membership row inserted (+1) or deleted (-1)."""
    counted = rooms.c.member_count + change
    conn.execute(rooms.update().where(rooms.c.id == room_id).values(member_count=counted))


def _leave(conn: Connection, room_id: int, user_id: int) -> int:
    delete = memberships.delete().where(
        memberships.c.room_id == room_id, memberships.c.user_id == user_id
    )
    left = int(conn.execute(delete).rowcount)
    if left:
        _count_members(conn, room_id, -1)
    return left


def _join_offset(room_id: int, user_id: int) -> sa.ColumnElement[int]:
    """A new member's unread offset: read_seq is 0, so every message by others that is
    not deleted is unread (counted once, at the join)."""
    unread = (
        sa.select(sa.func.count())
        .where(
            messages.c.room_id == room_id,
            messages.c.author_id != user_id,
            messages.c.deleted.is_(sa.false()),
        )
        .scalar_subquery()
    )
    count = sa.select(rooms.c.message_count).where(rooms.c.id == room_id)
    return count.scalar_subquery() - unread


def _join_mentions(room_id: int, user_id: int) -> sa.ScalarSelect[int]:
    """A new member's mention count: read_seq is 0, so every mention of them kept in the
    room (from an earlier membership) counts again, as the listing counted it before."""
    return (
        sa.select(sa.func.count())
        .where(mentions.c.user_id == user_id, mentions.c.room_id == room_id)
        .scalar_subquery()
    )


# The member's mentions that a marker moving to b_read_seq passes (SET sees the row as it
# was: read_seq is still the old marker).
_MENTIONS_READ = (
    sa.select(sa.func.count())
    .where(
        mentions.c.user_id == memberships.c.user_id,
        mentions.c.room_id == memberships.c.room_id,
        mentions.c.seq > memberships.c.read_seq,
        mentions.c.seq <= _B("b_read_seq"),
    )
    .scalar_subquery()
)


def add_member(
    conn: Connection, room_id: int, user_id: int, actor_id: int, now: datetime
) -> RoomEvent | None:
    """Make `user_id` a member: `member_joined`, None if already one."""
    log.lock_room(conn, room_id)
    if _role(conn, room_id, user_id) is not None:
        return None
    seq, room = log.take_seqs(conn, room_id)
    conn.execute(
        memberships.insert().values(
            room_id=room_id,
            user_id=user_id,
            joined_at=now,
            unread_offset=_join_offset(room_id, user_id),
            mention_count=_join_mentions(room_id, user_id),
        )
    )
    _count_members(conn, room_id, +1)
    who = names(conn, user_id, actor_id)
    event = roomlog.member_joined(room, seq, who[user_id], who[actor_id], "member")
    return log.store(conn, room_id, event, now)


def remove_member(
    conn: Connection,
    room_id: int,
    user_id: int,
    actor_id: int,
    reason: LeaveReason,
    now: datetime,
) -> RoomEvent | None:
    """Remove a member: `member_left`, None if they were not one."""
    log.lock_room(conn, room_id)
    if not _leave(conn, room_id, user_id):
        return None
    seq, room = log.take_seqs(conn, room_id)
    who = names(conn, user_id, actor_id)
    event = roomlog.member_left(room, seq, who[user_id], who[actor_id], reason)
    return log.store(conn, room_id, event, now)


def ban(
    conn: Connection, room_id: int, user_id: int, actor_id: int, now: datetime
) -> RoomEvent | None:
    """Ban and remove `user_id`: `member_banned`, None if already banned."""
    log.lock_room(conn, room_id)
    if _is_banned(conn, room_id, user_id):
        return None
    conn.execute(bans.insert().values(room_id=room_id, user_id=user_id, banned_at=now))
    _leave(conn, room_id, user_id)
    seq, room = log.take_seqs(conn, room_id)
    who = names(conn, user_id, actor_id)
    return log.store(
        conn, room_id, roomlog.member_banned(room, seq, who[user_id], who[actor_id]), now
    )


def unban(
    conn: Connection, room_id: int, user_id: int, actor_id: int, now: datetime
) -> RoomEvent | None:
    """Lift a ban: `member_unbanned`, None if there was none."""
    log.lock_room(conn, room_id)
    delete = bans.delete().where(bans.c.room_id == room_id, bans.c.user_id == user_id)
    if not conn.execute(delete).rowcount:
        return None
    seq, room = log.take_seqs(conn, room_id)
    who = names(conn, user_id, actor_id)
    event = roomlog.member_unbanned(room, seq, who[user_id], who[actor_id])
    return log.store(conn, room_id, event, now)


def set_role(
    conn: Connection, room_id: int, user_id: int, role: Role, actor_id: int, now: datetime
) -> list[RoomEvent]:
    """Give a member `role`; "owner" moves the room's ownership (the old owner becomes a
    moderator): one or two `role_changed` events."""
    locked = log.lock_room(conn, room_id)
    current = _role(conn, room_id, user_id)
    if current is None:
        raise NotFound(f"user {user_id} is not a member", code="not_a_member")
    if current == role:
        return []
    changes: list[tuple[int, Role]] = [(user_id, role)]
    if role == "owner" and locked.owner_id != user_id:
        conn.execute(rooms.update().where(rooms.c.id == room_id).values(owner_id=user_id))
        if _role(conn, room_id, locked.owner_id) is not None:
            changes.append((locked.owner_id, "moderator"))
    first, room = log.take_seqs(conn, room_id, len(changes))
    who = names(conn, actor_id, *(u for u, _ in changes))
    stored = []
    for seq, (changed, new_role) in enumerate(changes, start=first):
        conn.execute(
            memberships.update()
            .where(memberships.c.room_id == room_id, memberships.c.user_id == changed)
            .values(role=new_role)
        )
        event = roomlog.role_changed(room, seq, who[changed], new_role, who[actor_id])
        stored.append(log.store(conn, room_id, event, now))
    return stored


def members(conn: Connection, room_id: int) -> list[MemberRecord]:
    """The members and their roles, by username."""
    query = (
        sa.select(users.c.username, memberships.c.role)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.room_id == room_id)
        .order_by(users.c.username)
    )
    return [MemberRecord(row.username, row.role) for row in conn.execute(query)]


def member_count(conn: Connection, room_id: int) -> int:
    """How many members the room has."""
    query = sa.select(sa.func.count()).where(memberships.c.room_id == room_id)
    return int(conn.execute(query).scalar_one())


def banned_names(conn: Connection, room_id: int) -> list[str]:
    """Usernames of the banned, sorted."""
    query = (
        sa.select(users.c.username)
        .join(bans, bans.c.user_id == users.c.id)
        .where(bans.c.room_id == room_id)
        .order_by(users.c.username)
    )
    return list(conn.execute(query).scalars())


def set_notify(conn: Connection, room_id: int, user_id: int, level: NotifyLevel) -> bool:
    """A member's notification level; False if not one."""
    update = (
        memberships.update()
        .where(memberships.c.room_id == room_id, memberships.c.user_id == user_id)
        .values(notify=level)
    )
    return bool(conn.execute(update).rowcount)


# The messages a marker moving to b_read_seq passes that count as unread for the member:
# by others, not deleted (correlated like `_MENTIONS_READ`: the old marker).
_MESSAGES_READ = (
    sa.select(sa.func.count())
    .where(
        messages.c.room_id == memberships.c.room_id,
        messages.c.seq > memberships.c.read_seq,
        messages.c.seq <= _B("b_read_seq"),
        messages.c.author_id != memberships.c.user_id,
        messages.c.deleted.is_(sa.false()),
    )
    .scalar_subquery()
)
# The marker moves forward only; the counters move by what it passes, read in the same
# statement (one round trip on PostgreSQL instead of three). No row: it would not move,
# or the user is no member. Run on the driver's cursor (`prepared.py`).
_MOVE_MARKER = Prepared(
    memberships.update()
    .where(
        memberships.c.room_id == _B("b_room"),
        memberships.c.user_id == _B("b_user"),
        memberships.c.read_seq < _B("b_read_seq"),
    )
    .values(
        read_seq=_B("b_read_seq"),
        unread_offset=memberships.c.unread_offset + _MESSAGES_READ,
        mention_count=memberships.c.mention_count - _MENTIONS_READ,
    )
    # By the bound id: SQLite strips the table from names in RETURNING.
    .returning(sa.select(users.c.username).where(users.c.id == _B("b_user")).scalar_subquery())
)


def mark_read(
    conn: Connection, room_id: int, user_id: int, read_seq: int, now: datetime
) -> RoomEvent:
    """Move a member's read marker forward, clamped to the room's last seq before this
    event: `read`. Raises `Unchanged(None)` when it does not move or they are no member."""
    # Take the seq first: it locks the room, so the marker read below is current.
    seq, room = log.take_seqs(conn, room_id)
    target = min(read_seq, seq - 1)
    moved = _MOVE_MARKER.first(conn, {"b_room": room_id, "b_user": user_id, "b_read_seq": target})
    if moved is None:
        raise log.Unchanged(None)
    username = str(moved[0])
    return log.store(conn, room_id, roomlog.read_marker(room, seq, username, target), now)
