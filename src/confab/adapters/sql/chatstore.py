"""`ChatStore` on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

The operations live by concern (`accounts`, `rooms`, `members`, `messages`, `events`:
each a set of synchronous functions `fn(connection, ...)`); this class runs each one in
one transaction through `Database` and names the errors for its callers. Every change to
a room bumps `rooms.last_seq`, applies itself and inserts its event in that transaction
(see `events.py`), so seqs are gap-free per room across processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from confab.adapters.sql import accounts, members, messages, rooms
from confab.adapters.sql import events as log
from confab.adapters.sql.engine import Database, Synchronous
from confab.adapters.sql.errors import DUPLICATE
from confab.adapters.sql.tables import rooms as rooms_table
from confab.adapters.sql.tables import tokens, users
from confab.core.chatstore import (
    LeaveReason,
    MemberRecord,
    MessageRecord,
    NewMessage,
    NotifyLevel,
    Role,
    RoomAccess,
    RoomRecord,
    RoomSummary,
    TokenRecord,
    UserRecord,
    dm_name,
)
from confab.core.errors import Conflict
from confab.core.roomlog import RoomEvent


def _renamed(error: Conflict, detail: str, code: str) -> Conflict:
    """A unique violation, named for the caller; any other conflict unchanged."""
    if error.reason != DUPLICATE:
        return error
    return Conflict(detail, code=code)


class SqlChatStore:
    """The chat store on a `Database` (SQLite file or PostgreSQL)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @classmethod
    def open(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        synchronous: Synchronous = "FULL",
        group_commit: bool = True,
    ) -> SqlChatStore:
        """A store on `url` (connections open lazily; migrate the schema first).

        With `group_commit`, concurrent changes to rooms share transactions (see
        `Database.write_grouped`); each is still acknowledged only once committed.
        """
        database = Database(
            url, pool_size=pool_size, synchronous=synchronous, group_commit=group_commit
        )
        return cls(database)

    async def _change(self, operation: Any, room_id: int, *args: Any) -> Any:
        """Run a change to room `room_id` (maybe grouped with others); an `Unchanged`
        inside rolls it back and gives its value."""
        try:
            return await self._db.write_grouped(room_id, operation, room_id, *args)
        except log.Unchanged as unchanged:
            return unchanged.value

    # accounts and tokens

    async def create_user(self, username: str, password_hash: str, now: datetime) -> UserRecord:
        """Insert an account; `Conflict("username_taken")` if the name exists."""
        try:
            user_id = await self._db.write(accounts.create_user, username, password_hash, now)
        except Conflict as error:
            raise _renamed(error, f"username {username!r} is taken", "username_taken") from error
        return UserRecord(user_id, username, password_hash, now)

    async def get_user(self, username: str) -> UserRecord | None:
        """The account named `username`, or None."""
        return await self._db.read(accounts.get_user, username)

    async def users_named(self, usernames: Sequence[str]) -> dict[str, int]:
        """The ids of the known accounts among `usernames`, by name."""
        return await self._db.read(accounts.users_named, list(usernames))

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a password hash."""
        update = users.update().where(users.c.id == user_id).values(password_hash=password_hash)
        await self._db.write(accounts.rowcount, update)

    async def create_token(
        self, token_hash: str, user_id: int, now: datetime, expires_at: datetime
    ) -> None:
        """Store a session token by its hash."""
        insert = tokens.insert().values(
            token_hash=token_hash, user_id=user_id, created_at=now, expires_at=expires_at
        )
        await self._db.write(accounts.rowcount, insert)

    async def user_for_token(self, token_hash: str, now: datetime) -> UserRecord | None:
        """The account holding an unexpired token with this hash, or None."""
        return await self._db.read(accounts.user_for_token, token_hash, now)

    async def delete_token(self, token_hash: str) -> None:
        """Forget a token."""
        delete = tokens.delete().where(tokens.c.token_hash == token_hash)
        await self._db.write(accounts.rowcount, delete)

    async def delete_expired_tokens(self, user_id: int, now: datetime) -> int:
        """Forget a user's expired tokens."""
        delete = tokens.delete().where(tokens.c.user_id == user_id, tokens.c.expires_at <= now)
        return await self._db.write(accounts.rowcount, delete)

    async def get_token(self, token_hash: str, now: datetime) -> TokenRecord | None:
        """The unexpired token with this hash, or None."""
        return await self._db.read(accounts.token_by_hash, token_hash, now)

    async def list_tokens(self, user_id: int, now: datetime) -> list[TokenRecord]:
        """A user's unexpired tokens, oldest first."""
        where = sa.and_(tokens.c.user_id == user_id, tokens.c.expires_at > now)
        return await self._db.read(accounts.tokens_where, where)

    async def delete_user_tokens(self, user_id: int) -> list[str]:
        """Forget every token of a user; return their hashes."""
        return await self._db.write(accounts.delete_user_tokens, user_id)

    # rooms

    async def create_room(
        self, name: str, topic: str, private: bool, owner_id: int, now: datetime
    ) -> RoomRecord:
        """Insert a room and its owner's membership in one transaction."""
        try:
            return await self._db.write(rooms.create_room, name, topic, private, owner_id, now)
        except Conflict as error:
            raise _renamed(error, f"room {name!r} exists", "room_taken") from error

    async def open_dm(
        self, user_ids: Sequence[int], creator_id: int, now: datetime
    ) -> tuple[RoomRecord, list[RoomEvent]]:
        """The DM of exactly `user_ids`, created (with its events) if new."""
        try:
            return await self._db.write(rooms.open_dm, list(user_ids), creator_id, now)
        except Conflict as error:
            if error.reason != DUPLICATE:
                raise
            # Lost the race to create it: the winner's room is the one.
            name = dm_name([*user_ids, creator_id])
            room = await self._db.read(rooms.select_room, rooms_table.c.name == name)
            if room is None or room.kind != "dm":
                raise
            return room, []

    async def get_room(self, name: str) -> RoomRecord | None:
        """The room named `name`, or None."""
        return await self._db.read(rooms.select_room, rooms_table.c.name == name)

    async def room_access(self, name: str, user_id: int) -> RoomAccess | None:
        """The room named `name` as `user_id` sees it (one snapshot)."""
        return await self._db.read(rooms.room_access, name, user_id)

    async def list_rooms(self, user_id: int) -> list[RoomSummary]:
        """Member rooms and DMs, and every public room, by name, with unread counts."""
        return await self._db.read(rooms.list_rooms, user_id)

    async def set_topic(
        self, room_id: int, topic: str, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Change the topic: `topic_changed`, None if unchanged."""
        return await self._db.write_grouped(
            room_id, rooms.set_attribute, room_id, "topic", topic, actor_id, now
        )

    async def set_title(
        self, room_id: int, title: str, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Change the display name: `title_changed`, None if unchanged."""
        return await self._db.write_grouped(
            room_id, rooms.set_attribute, room_id, "title", title, actor_id, now
        )

    async def delete_room(self, room_id: int) -> bool:
        """Delete the room with its log, members and messages."""
        return await self._db.write_grouped(room_id, rooms.delete_room, room_id)

    # membership and roles

    async def add_member(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Make `user_id` a member: `member_joined`, None if already one."""
        try:
            return await self._db.write_grouped(
                room_id, members.add_member, room_id, user_id, actor_id, now
            )
        except Conflict as error:
            if error.reason != DUPLICATE:
                raise
            return None  # a concurrent join won

    async def remove_member(
        self, room_id: int, user_id: int, actor_id: int, reason: LeaveReason, now: datetime
    ) -> RoomEvent | None:
        """Remove a member: `member_left`, None if they were not one."""
        return await self._db.write_grouped(
            room_id, members.remove_member, room_id, user_id, actor_id, reason, now
        )

    async def ban(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Ban and remove `user_id`: `member_banned`, None if already banned."""
        try:
            return await self._db.write_grouped(
                room_id, members.ban, room_id, user_id, actor_id, now
            )
        except Conflict as error:
            if error.reason != DUPLICATE:
                raise
            return None

    async def unban(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Lift a ban: `member_unbanned`, None if there was none."""
        return await self._db.write_grouped(room_id, members.unban, room_id, user_id, actor_id, now)

    async def set_role(
        self, room_id: int, user_id: int, role: Role, actor_id: int, now: datetime
    ) -> list[RoomEvent]:
        """Give a member `role`; "owner" transfers ownership (two events)."""
        return await self._db.write_grouped(
            room_id, members.set_role, room_id, user_id, role, actor_id, now
        )

    async def members(self, room_id: int) -> list[MemberRecord]:
        """The members and their roles, by username."""
        return await self._db.read(members.members, room_id)

    async def member_count(self, room_id: int) -> int:
        """How many members the room has."""
        return await self._db.read(members.member_count, room_id)

    async def banned_names(self, room_id: int) -> list[str]:
        """Usernames of the banned, sorted."""
        return await self._db.read(members.banned_names, room_id)

    async def set_notify(self, room_id: int, user_id: int, level: NotifyLevel) -> bool:
        """A member's notification level; False if not one."""
        return await self._db.write_grouped(room_id, members.set_notify, room_id, user_id, level)

    async def mark_read(
        self, room_id: int, user_id: int, read_seq: int, now: datetime
    ) -> RoomEvent | None:
        """Move a member's read marker forward (clamped to last_seq): `read`."""
        event: RoomEvent | None = await self._change(
            members.mark_read, room_id, user_id, read_seq, now
        )
        return event

    # messages

    async def append_message(self, new: NewMessage) -> tuple[MessageRecord, RoomEvent | None]:
        """Store a message and its `message` event; idempotent on (author, client_id)."""
        try:
            return await self._db.write_grouped(new.room_id, messages.append, new)
        except Conflict as error:
            # A client_id sent before (or racing): our change (and seq) rolled back.
            if new.client_id is None or error.reason != DUPLICATE:
                raise
            first = await self._db.read(messages.by_client_id, new.author_id, new.client_id)
            if first is None:
                raise
            return first, None

    async def get_message(self, room_id: int, message_id: int) -> MessageRecord | None:
        """The message `message_id` of room `room_id` (state folded in), or None."""
        return await self._db.read(messages.get_message, room_id, message_id)

    async def messages_before(
        self, room_id: int, before: int | None, limit: int
    ) -> list[MessageRecord]:
        """The newest `limit` messages with seq < `before` (or the newest), in seq order."""
        return await self._db.read(messages.messages_before, room_id, before, limit)

    async def messages_after(self, room_id: int, after: int, limit: int) -> list[MessageRecord]:
        """The oldest `limit` messages with seq > `after`, in seq order."""
        return await self._db.read(messages.messages_after, room_id, after, limit)

    async def thread(self, room_id: int, root_id: int, limit: int) -> list[MessageRecord]:
        """The root and its first `limit` replies, in seq order."""
        return await self._db.read(messages.thread, room_id, root_id, limit)

    async def edit_message(
        self, room_id: int, message_id: int, text: str, actor_id: int, now: datetime
    ) -> tuple[MessageRecord, RoomEvent | None]:
        """Replace a live message's text: `message_edited`, None when unchanged."""
        result: tuple[MessageRecord, RoomEvent | None] = await self._change(
            messages.edit_message, room_id, message_id, text, actor_id, now
        )
        return result

    async def delete_message(
        self, room_id: int, message_id: int, actor_id: int, now: datetime
    ) -> tuple[MessageRecord, RoomEvent | None]:
        """Blank a message and redact its events: `message_deleted`."""
        result: tuple[MessageRecord, RoomEvent | None] = await self._change(
            messages.delete_message, room_id, message_id, actor_id, now
        )
        return result

    async def set_previews(
        self, room_id: int, message_id: int, previews: Sequence[dict[str, Any]]
    ) -> tuple[MessageRecord, RoomEvent | None] | None:
        """Store link previews on a live message: `previews_set`; None if it is gone."""
        # The contract gives no time here; it only stamps the stored event row.
        now = datetime.now(UTC)
        result: tuple[MessageRecord, RoomEvent | None] | None = await self._change(
            messages.set_previews, room_id, message_id, list(previews), now
        )
        return result

    async def add_reaction(
        self, room_id: int, message_id: int, user_id: int, emoji: str, now: datetime
    ) -> RoomEvent | None:
        """`reaction_added`, None if `user_id` had this reaction already."""
        event: RoomEvent | None = await self._change(
            messages.add_reaction, room_id, message_id, user_id, emoji, now
        )
        return event

    async def remove_reaction(
        self, room_id: int, message_id: int, user_id: int, emoji: str, now: datetime
    ) -> RoomEvent | None:
        """`reaction_removed`, None if `user_id` had no such reaction."""
        event: RoomEvent | None = await self._change(
            messages.remove_reaction, room_id, message_id, user_id, emoji, now
        )
        return event

    # the log

    async def events_after(self, room_id: int, after: int, limit: int) -> list[RoomEvent]:
        """The oldest `limit` events with seq > `after`, in seq order, redactions applied."""
        return await self._db.read(log.events_after, room_id, after, limit)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._db.close()
