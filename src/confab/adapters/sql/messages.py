"""Messages on SQL: sending, history, threads, edits, deletion, previews, reactions.

A message row holds its current state (text after edits, previews, reply count); reactions
live in their own table and are folded into the records read (one query per page).
Every change takes the room's next seq and stores its event (`events.py`); a change that
turns out to be a repeat raises `Unchanged` after taking it, so nothing is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from confab.adapters.chatlog import mentioned_ids
from confab.adapters.sql import events as log
from confab.adapters.sql.accounts import AnyRow, names
from confab.adapters.sql.prepared import Prepared
from confab.adapters.sql.tables import memberships, mentions, messages, reactions, rooms, users
from confab.core import roomlog
from confab.core.chatstore import REACTION_USERS, MessageRecord, NewMessage, ReactionSummary
from confab.core.errors import Forbidden, NotFound
from confab.core.roomlog import RoomEvent

_B = sa.bindparam
_author = users.alias("author")

_SELECT = sa.select(
    messages.c.id,
    rooms.c.name.label("room"),
    messages.c.seq,
    _author.c.username.label("author"),
    messages.c.text,
    messages.c.created_at,
    messages.c.edited_at,
    messages.c.deleted,
    messages.c.attachments,
    messages.c.previews,
    messages.c.client_id,
    messages.c.reply_to,
    messages.c.thread_root,
    messages.c.reply_count,
    messages.c.last_reply_at,
    messages.c.mentions,
    messages.c.mentions_room,
).select_from(
    messages.join(rooms, rooms.c.id == messages.c.room_id).join(
        _author, _author.c.id == messages.c.author_id
    )
)

# Hot-path statements are built once with bound parameters: SQLAlchemy then memoizes their
# cache keys, and a send spends its time in the database, not in constructing SQL.
_BY_CLIENT_ID = _SELECT.where(
    messages.c.author_id == _B("author_id"), messages.c.client_id == _B("client_id")
)
_ONE = _SELECT.where(messages.c.id == _B("id"), messages.c.room_id == _B("room_id"))
_INSERT = Prepared(
    messages.insert()
    .values({column.name: _B(column.name) for column in messages.c if column.name != "id"})
    .returning(messages.c.id)
)
_NEWEST = (
    _SELECT.where(messages.c.room_id == _B("room_id"))
    .order_by(messages.c.seq.desc())
    .limit(_B("limit"))
)
_BEFORE = (
    _SELECT.where(messages.c.room_id == _B("room_id"), messages.c.seq < _B("before"))
    .order_by(messages.c.seq.desc())
    .limit(_B("limit"))
)
_AFTER = (
    _SELECT.where(messages.c.room_id == _B("room_id"), messages.c.seq > _B("after"))
    .order_by(messages.c.seq)
    .limit(_B("limit"))
)
_REPLIES = (
    _SELECT.where(messages.c.thread_root == _B("root"), messages.c.room_id == _B("room_id"))
    .order_by(messages.c.seq)
    .limit(_B("limit"))
)
_PARENT = sa.select(messages.c.id, messages.c.thread_root).where(
    messages.c.id == _B("id"), messages.c.room_id == _B("room_id")
)
_BUMP_ROOT = (
    messages.update()
    .where(messages.c.id == _B("root"))
    .values(reply_count=messages.c.reply_count + 1, last_reply_at=_B("at"))
)
_REACTIONS = (
    sa.select(reactions.c.message_id, reactions.c.emoji, users.c.username)
    .join(users, users.c.id == reactions.c.user_id)
    .where(reactions.c.message_id.in_(_B("ids", expanding=True)))
    .order_by(reactions.c.seq)
)
_IS_MEMBER = sa.select(memberships.c.user_id).where(
    memberships.c.room_id == _B("room_id"), memberships.c.user_id == _B("user_id")
)
# The author's own message is not unread for them: their counter's offset follows the
# room's message count. No row: the author is not a member.
_OWN_COUNTER = (
    memberships.update()
    .where(memberships.c.room_id == _B("room_id"), memberships.c.user_id == _B("author_id"))
    .values(unread_offset=memberships.c.unread_offset + 1)
    .returning(memberships.c.user_id)
)
_OWN_MESSAGE = Prepared(_OWN_COUNTER)

# PostgreSQL: the three statements of a send (the seq, the author's counter, the row) in
# one round trip, which each cost about 65 us of the loop's CPU through asyncpg. Each
# sub-statement reads the one before it, which orders them (PostgreSQL runs a statement's
# sub-statements in no fixed order otherwise): the room row is locked before the
# membership row, as every other writer locks them, and a kick that commits while this
# waits for the room deletes the membership row that `_own` would update, so it updates
# nothing (READ COMMITTED skips a row deleted concurrently) and the send is refused.
_took = log.TAKE_MESSAGE_SEQ.cte("took")
_own = _OWN_COUNTER.where(sa.exists(sa.select(_took.c.last_seq))).cte("own")
_ROW_COLUMNS = [column for column in messages.c if column.name not in ("id", "seq")]
_stored = (
    messages.insert()
    .from_select(
        ["seq", *(column.name for column in _ROW_COLUMNS)],
        # asyncpg's dialect renders every bind with its type ($n::TYPE).
        sa.select(_took.c.last_seq, *(_B(c.name, type_=c.type) for c in _ROW_COLUMNS)).select_from(
            _took.join(_own, sa.true())
        ),
    )
    .returning(messages.c.id)
    .cte("stored")
)
# (seq, message id): no row if the room is gone, a NULL id if the author is no member.
_SEND_PG = Prepared(
    sa.select(_took.c.last_seq, _stored.c.id).select_from(_took.outerjoin(_stored, sa.true()))
)
# A deleted message stops being unread for the other members who had not read it.
_UNCOUNT_DELETED = (
    memberships.update()
    .where(
        memberships.c.room_id == _B("b_room"),
        memberships.c.user_id != _B("b_author"),
        memberships.c.read_seq < _B("b_seq"),
    )
    .values(unread_offset=memberships.c.unread_offset + 1)
)
# A new mention counts for each member it names (its seq is past every read marker).
_MENTIONED = (
    memberships.update()
    .where(
        memberships.c.room_id == _B("b_room"),
        memberships.c.user_id.in_(_B("b_users", expanding=True)),
    )
    .values(mention_count=memberships.c.mention_count + 1)
)
# A deleted message's mentions stop counting for those who had not read it.
_UNMENTION_DELETED = (
    memberships.update()
    .where(
        memberships.c.room_id == _B("b_room"),
        memberships.c.read_seq < _B("b_seq"),
        memberships.c.user_id.in_(
            sa.select(mentions.c.user_id).where(mentions.c.message_id == _B("b_message"))
        ),
    )
    .values(mention_count=memberships.c.mention_count - 1)
)
_AUTHOR_OF = sa.select(messages.c.author_id).where(messages.c.id == _B("id"))
# A reaction is added or removed in the statement that checks it may be: a member, a
# message of this room (live, to add), the reaction absent (to add) or present (to
# remove). Only when nothing changed does `_reaction_check` run, to say why: the common
# case is one round trip on PostgreSQL instead of two.
_IN_ROOM = messages.c.id == _B("id"), messages.c.room_id == _B("room_id")
_THIS_REACTION = (
    reactions.c.message_id == _B("id"),
    reactions.c.user_id == _B("user_id"),
    reactions.c.emoji == _B("emoji"),
)
_REACTOR = sa.select(users.c.username).where(users.c.id == _B("user_id"))
# Why a reaction changed nothing: the message (no row: not in this room) and whether the
# user is a member.
_REACTION_CHECK = Prepared(
    sa.select(messages.c.deleted, _IS_MEMBER.exists().label("member")).where(*_IN_ROOM)
)
_ADD_REACTION = Prepared(
    reactions.insert()
    .from_select(
        ["message_id", "emoji", "user_id", "seq"],
        sa.select(
            _B("id", type_=reactions.c.message_id.type),
            _B("emoji", type_=reactions.c.emoji.type),
            _B("user_id", type_=reactions.c.user_id.type),
            _B("seq", type_=reactions.c.seq.type),
        ).where(
            _IS_MEMBER.exists(),
            sa.select(messages.c.id).where(*_IN_ROOM, messages.c.deleted.is_(sa.false())).exists(),
            ~sa.select(reactions.c.user_id).where(*_THIS_REACTION).exists(),
        ),
    )
    .returning(_REACTOR.scalar_subquery())
)
_REMOVE_REACTION = Prepared(
    reactions.delete()
    .where(
        *_THIS_REACTION,
        _IS_MEMBER.exists(),
        sa.select(messages.c.id).where(*_IN_ROOM).exists(),
    )
    .returning(_REACTOR.scalar_subquery())
)
_MEMBER_IDS = (
    sa.select(users.c.username, users.c.id)
    .join(memberships, memberships.c.user_id == users.c.id)
    .where(memberships.c.room_id == _B("room_id"))
)


def _not_member() -> Forbidden:
    return Forbidden("you are not a member of this room", code="not_a_member")


def _record(row: AnyRow, folded: tuple[ReactionSummary, ...] = ()) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        room=row.room,
        seq=row.seq,
        author=row.author,
        text=row.text,
        created_at=row.created_at,
        edited_at=row.edited_at,
        deleted=bool(row.deleted),
        attachments=tuple(row.attachments or ()),
        previews=tuple(row.previews or ()),
        client_id=row.client_id,
        reply_to=row.reply_to,
        thread_root=row.thread_root,
        reply_count=int(row.reply_count),
        last_reply_at=row.last_reply_at,
        reactions=folded,
        mentions=tuple(row.mentions or ()),
        mentions_room=bool(row.mentions_room),
    )


def _fold(conn: Connection, rows: Sequence[AnyRow]) -> list[MessageRecord]:
    """Records with their reactions: emojis in order of their oldest reaction, users in
    the order they reacted (the first `REACTION_USERS` named)."""
    if not rows:
        return []
    found: dict[int, dict[str, list[str]]] = {}
    for reaction in conn.execute(_REACTIONS, {"ids": [row.id for row in rows]}):
        by_emoji = found.setdefault(reaction.message_id, {})
        by_emoji.setdefault(reaction.emoji, []).append(reaction.username)
    return [
        _record(
            row,
            tuple(
                ReactionSummary(emoji, len(users), tuple(users[:REACTION_USERS]))
                for emoji, users in found.get(row.id, {}).items()
            ),
        )
        for row in rows
    ]


def _one(conn: Connection, room_id: int, message_id: int) -> AnyRow | None:
    return conn.execute(_ONE, {"id": message_id, "room_id": room_id}).first()


def get_message(conn: Connection, room_id: int, message_id: int) -> MessageRecord | None:
    """The message with its state folded in, or None."""
    row = _one(conn, room_id, message_id)
    return None if row is None else _fold(conn, [row])[0]


def by_client_id(conn: Connection, author_id: int, client_id: str) -> MessageRecord | None:
    """The author's message sent with `client_id`, or None."""
    row = conn.execute(_BY_CLIENT_ID, {"author_id": author_id, "client_id": client_id}).first()
    return None if row is None else _fold(conn, [row])[0]


def _mentions(conn: Connection, new: NewMessage) -> tuple[tuple[str, ...], set[int]]:
    if not new.mentions and not new.mentions_room:
        return (), set()
    query = _MEMBER_IDS
    if not new.mentions_room:
        query = query.where(users.c.username.in_(list(new.mentions)))
    members = {row.username: int(row.id) for row in conn.execute(query, {"room_id": new.room_id})}
    return mentioned_ids(new.mentions, new.mentions_room, members, new.author_id)


def append(conn: Connection, new: NewMessage) -> tuple[MessageRecord, RoomEvent | None]:
    """Store a message, its mentions and its `message` event.

    A repeated (author, client_id) fails the unique constraint (the caller then reads the
    first message): no lookup before every send.
    """
    root: int | None = None
    if new.reply_to is not None:
        parent = conn.execute(_PARENT, {"id": new.reply_to, "room_id": new.room_id}).first()
        if parent is None:
            raise NotFound(f"no message {new.reply_to} here", code="reply_not_found")
        root = parent.thread_root or parent.id
    named, targets = _mentions(conn, new)
    values = {
        "room_id": new.room_id,
        "author_id": new.author_id,
        "text": new.text,
        "client_id": new.client_id,
        "created_at": new.created_at,
        "edited_at": None,
        "deleted": False,
        "attachments": list(new.attachments),
        "previews": [],
        "reply_to": new.reply_to,
        "thread_root": root,
        "reply_count": 0,
        "last_reply_at": None,
        "mentions": list(named) or None,
        "mentions_room": new.mentions_room,
    }
    seq, message_id = _stored_message(conn, values)
    if root is not None:
        conn.execute(_BUMP_ROOT, {"root": root, "at": new.created_at})
    if targets:
        conn.execute(
            mentions.insert(),
            [
                {"user_id": u, "room_id": new.room_id, "seq": seq, "message_id": message_id}
                for u in sorted(targets)
            ],
        )
        conn.execute(_MENTIONED, {"b_room": new.room_id, "b_users": sorted(targets)})
    record = MessageRecord(
        id=message_id,
        room=new.room,
        seq=seq,
        author=new.author,
        text=new.text,
        created_at=new.created_at,
        edited_at=None,
        deleted=False,
        attachments=new.attachments,
        previews=(),
        client_id=new.client_id,
        reply_to=new.reply_to,
        thread_root=root,
        mentions=named,
        mentions_room=new.mentions_room,
    )
    event = log.store(conn, new.room_id, roomlog.message_posted(record), new.created_at)
    return record, event


def _stored_message(conn: Connection, values: dict[str, Any]) -> tuple[int, int]:
    """Take the room's next seq, count the message in its author's unread offset and
    insert its row: (seq, message id). `Forbidden` if the author is no member."""
    if conn.dialect.name == "postgresql":
        row = _SEND_PG.first(conn, values)
        if row is None:
            raise NotFound(f"no room {values['room_id']}", code="room_not_found")
        if row[1] is None:
            raise _not_member()
        return int(row[0]), int(row[1])
    seq, _ = log.take_message_seq(conn, values["room_id"])
    # After the seq: the room is locked, so a removal is either committed and seen here
    # or ordered after this message (the session may write on a membership cached at join).
    if not _OWN_MESSAGE.rows(conn, values):
        raise _not_member()
    ((message_id,),) = _INSERT.rows(conn, {**values, "seq": seq})
    return seq, int(message_id)


def messages_before(
    conn: Connection, room_id: int, before: int | None, limit: int
) -> list[MessageRecord]:
    """The newest `limit` messages with seq < `before` (or the newest), in seq order."""
    params = {"room_id": room_id, "before": before, "limit": limit}
    rows = conn.execute(_NEWEST if before is None else _BEFORE, params).all()
    return _fold(conn, rows[::-1])


def messages_after(conn: Connection, room_id: int, after: int, limit: int) -> list[MessageRecord]:
    """The oldest `limit` messages with seq > `after`, in seq order."""
    params = {"room_id": room_id, "after": after, "limit": limit}
    return _fold(conn, conn.execute(_AFTER, params).all())


def thread(conn: Connection, room_id: int, root_id: int, limit: int) -> list[MessageRecord]:
    """The root and its first `limit` replies, in seq order ([] if no such root here)."""
    root = _one(conn, room_id, root_id)
    if root is None:
        return []
    params = {"root": root_id, "room_id": room_id, "limit": max(0, limit)}
    return _fold(conn, [root, *conn.execute(_REPLIES, params).all()])


def _live_after_seq(conn: Connection, room_id: int, message_id: int) -> tuple[int, str, AnyRow]:
    """Take the next seq (locking the room), then read the live message."""
    seq, room = log.take_seqs(conn, room_id)
    row = _one(conn, room_id, message_id)
    if row is None or row.deleted:
        raise NotFound(f"no message {message_id}", code="message_not_found")
    return seq, room, row


def edit_message(
    conn: Connection, room_id: int, message_id: int, text: str, actor_id: int, now: datetime
) -> tuple[MessageRecord, RoomEvent]:
    """Replace a live message's text: `message_edited`; `Unchanged` if it is the same."""
    seq, room, row = _live_after_seq(conn, room_id, message_id)
    if row.text == text:
        raise log.Unchanged((_fold(conn, [row])[0], None))
    update = messages.update().where(messages.c.id == message_id)
    conn.execute(update.values(text=text, edited_at=now))
    actor = names(conn, actor_id)[actor_id]
    event = roomlog.message_edited(room, seq, message_id, text, now, actor)
    log.store(conn, room_id, event, now, target=message_id)
    stored = _one(conn, room_id, message_id)
    assert stored is not None
    return _fold(conn, [stored])[0], event


def delete_message(
    conn: Connection, room_id: int, message_id: int, actor_id: int, now: datetime
) -> tuple[MessageRecord, RoomEvent]:
    """Blank a message and redact its events: `message_deleted`; `Unchanged` if it was
    deleted already."""
    seq, room = log.take_seqs(conn, room_id)
    row = _one(conn, room_id, message_id)
    if row is None:
        raise NotFound(f"no message {message_id}", code="message_not_found")
    if row.deleted:
        raise log.Unchanged((_record(row), None))
    blank = {
        "text": "",
        "deleted": True,
        "attachments": [],
        "previews": [],
        "mentions": None,
        "mentions_room": False,
    }
    author_id = conn.execute(_AUTHOR_OF, {"id": message_id}).scalar_one()
    conn.execute(_UNCOUNT_DELETED, {"b_room": room_id, "b_author": author_id, "b_seq": row.seq})
    conn.execute(messages.update().where(messages.c.id == message_id).values(**blank))
    conn.execute(reactions.delete().where(reactions.c.message_id == message_id))
    conn.execute(_UNMENTION_DELETED, {"b_room": room_id, "b_message": message_id, "b_seq": row.seq})
    conn.execute(mentions.delete().where(mentions.c.message_id == message_id))
    log.redact(conn, room_id, message_id, row.seq)
    actor = names(conn, actor_id)[actor_id]
    event = log.store(conn, room_id, roomlog.message_deleted(room, seq, message_id, actor), now)
    stored = _one(conn, room_id, message_id)
    assert stored is not None
    return _record(stored), event


def set_previews(
    conn: Connection,
    room_id: int,
    message_id: int,
    previews: Sequence[dict[str, Any]],
    now: datetime,
) -> tuple[MessageRecord, RoomEvent]:
    """Store previews on a live message: `previews_set`; `Unchanged` if the same, or
    `Unchanged(None)` if the message is gone or deleted."""
    try:
        seq, room, row = _live_after_seq(conn, room_id, message_id)
    except NotFound:
        raise log.Unchanged(None) from None
    if list(row.previews or ()) == list(previews):
        raise log.Unchanged((_fold(conn, [row])[0], None))
    stored_previews = [dict(p) for p in previews]
    update = messages.update().where(messages.c.id == message_id)
    conn.execute(update.values(previews=stored_previews))
    event = roomlog.previews_set(room, seq, message_id, stored_previews)
    log.store(conn, room_id, event, now, target=message_id)
    stored = _one(conn, room_id, message_id)
    assert stored is not None
    return _fold(conn, [stored])[0], event


def _reaction_check(conn: Connection, params: dict[str, Any]) -> bool:
    """Whether the message is live in this room; `Forbidden` for a non-member (checked
    before anything about the message, like the memory store)."""
    row = _REACTION_CHECK.first(conn, params)
    if row is None:  # no such message here: membership still decides the error
        if conn.execute(_IS_MEMBER, params).first() is None:
            raise _not_member()
        return False
    deleted, member = row
    if not member:
        raise _not_member()
    return not deleted


def add_reaction(
    conn: Connection, room_id: int, message_id: int, user_id: int, emoji: str, now: datetime
) -> RoomEvent:
    """`reaction_added`; `Unchanged(None)` if the user had it already."""
    seq, room = log.take_seqs(conn, room_id)
    params = {"id": message_id, "room_id": room_id, "user_id": user_id, "emoji": emoji}
    added = _ADD_REACTION.first(conn, {**params, "seq": seq})
    if added is None:  # why not: refused, no such live message, or had it already
        if not _reaction_check(conn, params):
            raise NotFound(f"no message {message_id}", code="message_not_found")
        raise log.Unchanged(None)
    event = roomlog.reaction_added(room, seq, message_id, emoji, str(added[0]))
    return log.store(conn, room_id, event, now)


def remove_reaction(
    conn: Connection, room_id: int, message_id: int, user_id: int, emoji: str, now: datetime
) -> RoomEvent:
    """`reaction_removed`; `Unchanged(None)` if the user had no such reaction."""
    seq, room = log.take_seqs(conn, room_id)
    params = {"id": message_id, "room_id": room_id, "user_id": user_id, "emoji": emoji}
    removed = _REMOVE_REACTION.first(conn, params)
    if removed is None:  # why not: refused (raises), or no such reaction
        _reaction_check(conn, params)
        raise log.Unchanged(None)
    event = roomlog.reaction_removed(room, seq, message_id, emoji, str(removed[0]))
    return log.store(conn, room_id, event, now)
