"""`ChatStore` on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Each store method runs one synchronous operation (the `_op` functions below) in one
transaction through `Database`, so the same queries serve both backends.

Seq assignment: the room row is the counter. `UPDATE rooms SET last_seq = last_seq + 1
... RETURNING last_seq` and the message INSERT run in one transaction, so the row lock
(PostgreSQL) or the database write lock (SQLite) orders concurrent writers, and a failed
insert rolls the counter back: seqs are gap-free and totally ordered per room, across
processes. A repeated (author, client_id) is found before writing, or, when two writers
race, fails the unique constraint, rolls back and returns the winner's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from confab.adapters.sql.engine import Database, Synchronous
from confab.adapters.sql.errors import DUPLICATE
from confab.adapters.sql.tables import bans, memberships, messages, rooms, tokens, users
from confab.core.chatstore import (
    MessageRecord,
    NewMessage,
    RoomAccess,
    RoomRecord,
    RoomSummary,
    TokenRecord,
    UserRecord,
)
from confab.core.errors import Conflict, NotFound

# Any row of any width (SQLAlchemy 2.1 types rows by their columns).
AnyRow = sa.Row[*tuple[Any, ...]]

_owner = users.alias("owner")
_author = users.alias("author")

_ROOM_COLUMNS = (
    rooms.c.id,
    rooms.c.name,
    rooms.c.topic,
    rooms.c.private,
    rooms.c.owner_id,
    _owner.c.username.label("owner"),
    rooms.c.last_seq,
    rooms.c.created_at,
)
_ROOMS_WITH_OWNER = rooms.join(_owner, _owner.c.id == rooms.c.owner_id)

_MESSAGE_SELECT = sa.select(
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
).select_from(
    messages.join(rooms, rooms.c.id == messages.c.room_id).join(
        _author, _author.c.id == messages.c.author_id
    )
)


def _user(row: AnyRow) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        password_hash=row.password_hash,
        created_at=row.created_at,
    )


def _room(row: AnyRow) -> RoomRecord:
    return RoomRecord(
        id=row.id,
        name=row.name,
        topic=row.topic,
        private=bool(row.private),
        owner_id=row.owner_id,
        owner=row.owner,
        last_seq=row.last_seq,
        created_at=row.created_at,
    )


def _message(row: AnyRow) -> MessageRecord:
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
    )


def _is_member(room_id: Any, user_id: Any) -> sa.Exists:
    return (
        sa.select(memberships.c.user_id)
        .where(memberships.c.room_id == room_id, memberships.c.user_id == user_id)
        .exists()
    )


# Hot-path statements are built once with bound parameters: SQLAlchemy then memoizes their
# cache keys, and a send or an authentication spends its time in the database, not in
# constructing SQL (measured: about half of an append's CPU time went to that).
_B = sa.bindparam

_USER_FOR_TOKEN = (
    sa.select(users)
    .join(tokens, tokens.c.user_id == users.c.id)
    .where(tokens.c.token_hash == _B("token_hash"), tokens.c.expires_at > _B("now"))
)
_ROOM_ACCESS = (
    sa.select(
        *_ROOM_COLUMNS,
        _is_member(rooms.c.id, _B("user_id")).label("member"),
        sa.select(bans.c.user_id)
        .where(bans.c.room_id == rooms.c.id, bans.c.user_id == _B("user_id"))
        .exists()
        .label("banned"),
    )
    .select_from(_ROOMS_WITH_OWNER)
    .where(rooms.c.name == _B("name"))
)
_BY_CLIENT_ID = _MESSAGE_SELECT.where(
    messages.c.author_id == _B("author_id"), messages.c.client_id == _B("client_id")
)
_BUMP_SEQ = (
    rooms.update()
    .where(rooms.c.id == _B("room_id"))
    .values(last_seq=rooms.c.last_seq + 1)
    .returning(rooms.c.last_seq)
)
_INSERT_MESSAGE = messages.insert().returning(messages.c.id)
_NEWEST = (
    _MESSAGE_SELECT.where(messages.c.room_id == _B("room_id"))
    .order_by(messages.c.seq.desc())
    .limit(_B("limit"))
)
_BEFORE = (
    _MESSAGE_SELECT.where(messages.c.room_id == _B("room_id"), messages.c.seq < _B("before"))
    .order_by(messages.c.seq.desc())
    .limit(_B("limit"))
)
_AFTER = (
    _MESSAGE_SELECT.where(messages.c.room_id == _B("room_id"), messages.c.seq > _B("after"))
    .order_by(messages.c.seq)
    .limit(_B("limit"))
)


def _renamed(error: Conflict, detail: str, code: str) -> Conflict:
    """A unique violation, named for the caller; any other conflict unchanged."""
    if error.reason != DUPLICATE:
        return error
    return Conflict(detail, code=code)


# operations: each runs inside one transaction on a sync connection


def _create_user(conn: Connection, username: str, password_hash: str, now: datetime) -> int:
    insert = users.insert().values(username=username, password_hash=password_hash, created_at=now)
    return int(conn.execute(insert.returning(users.c.id)).scalar_one())


def _get_user(conn: Connection, username: str) -> UserRecord | None:
    row = conn.execute(users.select().where(users.c.username == username)).first()
    return None if row is None else _user(row)


def _user_for_token(conn: Connection, token_hash: str, now: datetime) -> UserRecord | None:
    row = conn.execute(_USER_FOR_TOKEN, {"token_hash": token_hash, "now": now}).first()
    return None if row is None else _user(row)


_TOKEN_SELECT = sa.select(
    tokens.c.token_hash,
    tokens.c.user_id,
    users.c.username,
    tokens.c.created_at,
    tokens.c.expires_at,
).join(users, users.c.id == tokens.c.user_id)


def _tokens(conn: Connection, where: sa.ColumnElement[bool]) -> list[TokenRecord]:
    query = _TOKEN_SELECT.where(where).order_by(tokens.c.created_at, tokens.c.token_hash)
    return [
        TokenRecord(row.token_hash, row.user_id, row.username, row.created_at, row.expires_at)
        for row in conn.execute(query)
    ]


def _delete_user_tokens(conn: Connection, user_id: int) -> list[str]:
    hashes = [
        str(h)
        for h in conn.execute(
            sa.select(tokens.c.token_hash).where(tokens.c.user_id == user_id)
        ).scalars()
    ]
    conn.execute(tokens.delete().where(tokens.c.user_id == user_id))
    return hashes


def _rowcount(conn: Connection, statement: sa.Executable) -> int:
    return int(conn.execute(statement).rowcount)


def _select_room(conn: Connection, where: sa.ColumnElement[bool]) -> RoomRecord | None:
    query = sa.select(*_ROOM_COLUMNS).select_from(_ROOMS_WITH_OWNER).where(where)
    row = conn.execute(query).first()
    return None if row is None else _room(row)


def _create_room(
    conn: Connection, name: str, topic: str, private: bool, owner_id: int, now: datetime
) -> RoomRecord:
    values = {
        "name": name,
        "topic": topic,
        "private": private,
        "owner_id": owner_id,
        "last_seq": 0,
        "created_at": now,
    }
    room_id = conn.execute(rooms.insert().values(**values).returning(rooms.c.id)).scalar_one()
    conn.execute(memberships.insert().values(room_id=room_id, user_id=owner_id, joined_at=now))
    room = _select_room(conn, rooms.c.id == room_id)
    assert room is not None
    return room


def _room_access(conn: Connection, name: str, user_id: int) -> RoomAccess | None:
    row = conn.execute(_ROOM_ACCESS, {"name": name, "user_id": user_id}).first()
    if row is None:
        return None
    return RoomAccess(_room(row), member=bool(row.member), banned=bool(row.banned))


def _list_rooms(conn: Connection, user_id: int) -> list[RoomSummary]:
    member = _is_member(rooms.c.id, user_id)
    count = (
        sa.select(sa.func.count())
        .select_from(memberships)
        .where(memberships.c.room_id == rooms.c.id)
        .scalar_subquery()
    )
    query = (
        sa.select(*_ROOM_COLUMNS, member.label("member"), count.label("members"))
        .select_from(_ROOMS_WITH_OWNER)
        .where(sa.or_(rooms.c.private.is_(sa.false()), member))
        .order_by(rooms.c.name)
    )
    return [
        RoomSummary(_room(row), member=bool(row.member), members=int(row.members))
        for row in conn.execute(query)
    ]


def _add_member(conn: Connection, room_id: int, user_id: int, now: datetime) -> bool:
    if conn.execute(sa.select(_is_member(room_id, user_id))).scalar_one():
        return False
    conn.execute(memberships.insert().values(room_id=room_id, user_id=user_id, joined_at=now))
    return True


def _remove_member(conn: Connection, room_id: int, user_id: int) -> bool:
    delete = memberships.delete().where(
        memberships.c.room_id == room_id, memberships.c.user_id == user_id
    )
    return _rowcount(conn, delete) > 0


def _ban(conn: Connection, room_id: int, user_id: int, now: datetime) -> bool:
    already = conn.execute(
        sa.select(bans.c.user_id).where(bans.c.room_id == room_id, bans.c.user_id == user_id)
    ).first()
    if already is None:
        conn.execute(bans.insert().values(room_id=room_id, user_id=user_id, banned_at=now))
    return _remove_member(conn, room_id, user_id)


def _member_names(conn: Connection, room_id: int) -> list[str]:
    query = (
        sa.select(users.c.username)
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.room_id == room_id)
        .order_by(users.c.username)
    )
    return list(conn.execute(query).scalars())


def _member_count(conn: Connection, room_id: int) -> int:
    query = sa.select(sa.func.count()).where(memberships.c.room_id == room_id)
    return int(conn.execute(query).scalar_one())


def _by_client_id(conn: Connection, author_id: int, client_id: str) -> MessageRecord | None:
    row = conn.execute(_BY_CLIENT_ID, {"author_id": author_id, "client_id": client_id}).first()
    return None if row is None else _message(row)


def _append(conn: Connection, new: NewMessage) -> tuple[MessageRecord, bool]:
    if new.client_id is not None:
        first = _by_client_id(conn, new.author_id, new.client_id)
        if first is not None:
            return first, False
    seq = conn.execute(_BUMP_SEQ, {"room_id": new.room_id}).scalar_one_or_none()
    if seq is None:
        raise NotFound(f"no room {new.room!r}", code="room_not_found")
    values = {
        "room_id": new.room_id,
        "seq": seq,
        "author_id": new.author_id,
        "text": new.text,
        "client_id": new.client_id,
        "created_at": new.created_at,
        "deleted": False,
        "attachments": list(new.attachments),
        "previews": [],
    }
    message_id = conn.execute(_INSERT_MESSAGE, values).scalar_one()
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
    )
    return record, True


def _get_message(conn: Connection, room_id: int, message_id: int) -> MessageRecord | None:
    query = _MESSAGE_SELECT.where(messages.c.id == message_id, messages.c.room_id == room_id)
    row = conn.execute(query).first()
    return None if row is None else _message(row)


def _messages_before(
    conn: Connection, room_id: int, before: int | None, limit: int
) -> list[MessageRecord]:
    params = {"room_id": room_id, "before": before, "limit": limit}
    rows = conn.execute(_NEWEST if before is None else _BEFORE, params).all()
    return [_message(row) for row in reversed(rows)]


def _messages_after(conn: Connection, room_id: int, after: int, limit: int) -> list[MessageRecord]:
    params = {"room_id": room_id, "after": after, "limit": limit}
    return [_message(row) for row in conn.execute(_AFTER, params)]


def _update_message(
    conn: Connection, message_id: int, values: dict[str, Any], live_only: bool
) -> MessageRecord | None:
    update = messages.update().where(messages.c.id == message_id).values(**values)
    if live_only:
        update = update.where(messages.c.deleted.is_(sa.false()))
    if not _rowcount(conn, update):
        return None
    return _message(conn.execute(_MESSAGE_SELECT.where(messages.c.id == message_id)).one())


class SqlChatStore:
    """The chat store on a `Database` (SQLite file or PostgreSQL)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @classmethod
    def open(
        cls, url: str, *, pool_size: int = 10, synchronous: Synchronous = "FULL"
    ) -> SqlChatStore:
        """A store on `url` (connections open lazily; migrate the schema first)."""
        return cls(Database(url, pool_size=pool_size, synchronous=synchronous))

    # accounts and tokens

    async def create_user(self, username: str, password_hash: str, now: datetime) -> UserRecord:
        """Insert an account; `Conflict("username_taken")` if the name exists."""
        try:
            user_id = await self._db.write(_create_user, username, password_hash, now)
        except Conflict as error:
            raise _renamed(error, f"username {username!r} is taken", "username_taken") from error
        return UserRecord(user_id, username, password_hash, now)

    async def get_user(self, username: str) -> UserRecord | None:
        """The account named `username`, or None."""
        return await self._db.read(_get_user, username)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a password hash."""
        update = users.update().where(users.c.id == user_id).values(password_hash=password_hash)
        await self._db.write(_rowcount, update)

    async def create_token(
        self, token_hash: str, user_id: int, now: datetime, expires_at: datetime
    ) -> None:
        """Store a session token by its hash."""
        insert = tokens.insert().values(
            token_hash=token_hash, user_id=user_id, created_at=now, expires_at=expires_at
        )
        await self._db.write(_rowcount, insert)

    async def user_for_token(self, token_hash: str, now: datetime) -> UserRecord | None:
        """The account holding an unexpired token with this hash, or None."""
        return await self._db.read(_user_for_token, token_hash, now)

    async def delete_token(self, token_hash: str) -> None:
        """Forget a token."""
        await self._db.write(_rowcount, tokens.delete().where(tokens.c.token_hash == token_hash))

    async def delete_expired_tokens(self, user_id: int, now: datetime) -> int:
        """Forget a user's expired tokens."""
        delete = tokens.delete().where(tokens.c.user_id == user_id, tokens.c.expires_at <= now)
        return await self._db.write(_rowcount, delete)

    async def get_token(self, token_hash: str, now: datetime) -> TokenRecord | None:
        """The unexpired token with this hash, or None."""
        where = sa.and_(tokens.c.token_hash == token_hash, tokens.c.expires_at > now)
        found = await self._db.read(_tokens, where)
        return found[0] if found else None

    async def list_tokens(self, user_id: int, now: datetime) -> list[TokenRecord]:
        """A user's unexpired tokens, oldest first."""
        where = sa.and_(tokens.c.user_id == user_id, tokens.c.expires_at > now)
        return await self._db.read(_tokens, where)

    async def delete_user_tokens(self, user_id: int) -> list[str]:
        """Forget every token of a user; return their hashes."""
        return await self._db.write(_delete_user_tokens, user_id)

    # rooms and membership

    async def create_room(
        self, name: str, topic: str, private: bool, owner_id: int, now: datetime
    ) -> RoomRecord:
        """Insert a room and its owner's membership in one transaction."""
        try:
            return await self._db.write(_create_room, name, topic, private, owner_id, now)
        except Conflict as error:
            raise _renamed(error, f"room {name!r} exists", "room_taken") from error

    async def get_room(self, name: str) -> RoomRecord | None:
        """The room named `name`, or None."""
        return await self._db.read(_select_room, rooms.c.name == name)

    async def room_access(self, name: str, user_id: int) -> RoomAccess | None:
        """The room named `name` as `user_id` sees it."""
        return await self._db.read(_room_access, name, user_id)

    async def list_rooms(self, user_id: int) -> list[RoomSummary]:
        """Rooms `user_id` belongs to, and every public room, by name."""
        return await self._db.read(_list_rooms, user_id)

    async def add_member(self, room_id: int, user_id: int, now: datetime) -> bool:
        """Make `user_id` a member; False if they already were."""
        try:
            return await self._db.write(_add_member, room_id, user_id, now)
        except Conflict as error:
            if error.reason != DUPLICATE:
                raise
            return False  # a concurrent join won

    async def remove_member(self, room_id: int, user_id: int) -> bool:
        """Remove a member; False if they were not one."""
        return await self._db.write(_remove_member, room_id, user_id)

    async def ban(self, room_id: int, user_id: int, now: datetime) -> bool:
        """Ban and remove `user_id`; True if they were a member."""
        return await self._db.write(_ban, room_id, user_id, now)

    async def member_names(self, room_id: int) -> list[str]:
        """Usernames of the members, sorted."""
        return await self._db.read(_member_names, room_id)

    async def member_count(self, room_id: int) -> int:
        """How many members the room has."""
        return await self._db.read(_member_count, room_id)

    # messages

    async def append_message(self, new: NewMessage) -> tuple[MessageRecord, bool]:
        """Store a message with the room's next seq; idempotent on (author, client_id)."""
        try:
            return await self._db.write(_append, new)
        except Conflict as error:
            # Lost a race on the same client_id: our transaction (and seq) rolled back.
            if new.client_id is None or error.reason != DUPLICATE:
                raise
            first = await self._db.read(_by_client_id, new.author_id, new.client_id)
            if first is None:
                raise
            return first, False

    async def get_message(self, room_id: int, message_id: int) -> MessageRecord | None:
        """The message `message_id` of room `room_id`, or None."""
        return await self._db.read(_get_message, room_id, message_id)

    async def messages_before(
        self, room_id: int, before: int | None, limit: int
    ) -> list[MessageRecord]:
        """The newest `limit` messages with seq < `before` (or the newest), in seq order."""
        return await self._db.read(_messages_before, room_id, before, limit)

    async def messages_after(self, room_id: int, after: int, limit: int) -> list[MessageRecord]:
        """The oldest `limit` messages with seq > `after`, in seq order."""
        return await self._db.read(_messages_after, room_id, after, limit)

    async def edit_message(self, message_id: int, text: str, now: datetime) -> MessageRecord:
        """Replace a live message's text and set `edited_at`."""
        values = {"text": text, "edited_at": now}
        record = await self._db.write(_update_message, message_id, values, True)
        if record is None:
            raise NotFound(f"no message {message_id}", code="message_not_found")
        return record

    async def delete_message(self, message_id: int, now: datetime) -> MessageRecord:
        """Blank a message and mark it deleted (its id and seq stay)."""
        values = {"text": "", "deleted": True, "attachments": [], "previews": []}
        record = await self._db.write(_update_message, message_id, values, False)
        if record is None:
            raise NotFound(f"no message {message_id}", code="message_not_found")
        return record

    async def set_previews(
        self, message_id: int, previews: Sequence[dict[str, Any]]
    ) -> MessageRecord | None:
        """Store link previews on a live message; None if it is gone or deleted."""
        return await self._db.write(_update_message, message_id, {"previews": list(previews)}, True)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._db.close()
