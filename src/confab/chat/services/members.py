"""Membership and roles: join, invite, leave, kick, ban, unban, roles, member lists.

Every change is a room event (stored, then published by `RoomEvents.commit`). The user
concerned also hears of it on their own channel: `room_added` when invited (live, no
poll), `room_removed` when kicked or banned.
"""

from __future__ import annotations

from confab.chat.domain import (
    User,
    can_ban,
    can_remove,
    check_role,
    is_moderator,
    normalize_username,
    room_json,
)
from confab.chat.protocol import room_added_frame, room_removed_frame
from confab.chat.services.config import Clock, utc_now
from confab.chat.services.events import RoomEvents
from confab.chat.services.rooms import RoomService, not_moderator
from confab.core.chatstore import ChatStore, MemberRecord, RoomAccess, RoomSummary, UserRecord
from confab.core.errors import Conflict, Forbidden, InvalidInput, NotFound, excerpt


class MembershipService:
    """Membership use cases of rooms (DMs have fixed participants: no joins there)."""

    def __init__(
        self, store: ChatStore, rooms: RoomService, events: RoomEvents, clock: Clock = utc_now
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._events = events
        self._clock = clock

    async def _target(self, username: str) -> UserRecord:
        try:
            name = normalize_username(username)
        except InvalidInput:
            name = ""
        record = await self._store.get_user(name) if name else None
        if record is None:
            raise NotFound(f"no user {excerpt(username)!r}", code="user_not_found")
        return record

    async def _role_of(self, access: RoomAccess, user_id: int) -> RoomAccess:
        theirs = await self._store.room_access(access.room.name, user_id)
        if theirs is None:
            raise NotFound("the room is gone", code="room_not_found")
        return theirs

    @staticmethod
    def _no_dm(access: RoomAccess) -> None:
        if access.room.kind == "dm":
            raise Forbidden("a direct conversation has fixed participants", code="dm_fixed")

    async def join(self, user: User, room: str) -> RoomSummary:
        """Join a public room (or one already joined)."""
        access = await self._rooms.visible(user, room)
        if access.banned:
            raise Forbidden("you are banned from this room", code="banned")
        if not access.member:
            record = access.room
            await self._events.commit(
                record.name,
                lambda: self._store.add_member(record.id, user.id, user.id, self._clock()),
            )
        return await self._rooms.get(user, room)

    async def invite(self, user: User, room: str, username: str) -> RoomSummary:
        """A moderator or the owner adds `username`, who hears of it live (`room_added`)."""
        access = await self._rooms.moderated(user, room)
        self._no_dm(access)
        target = await self._target(username)
        theirs = await self._role_of(access, target.id)
        if theirs.banned:
            raise Conflict(f"{target.username} is banned from this room", code="user_banned")
        record = access.room
        event = await self._events.commit(
            record.name,
            lambda: self._store.add_member(record.id, target.id, user.id, self._clock()),
        )
        if event is not None:
            view = await self._rooms.view_for(record, target.id)
            if view is not None:
                await self._events.to_user(
                    target.username, "room_added", room_added_frame(room_json(view))
                )
        return await self._rooms.get(user, room)

    async def remove(self, user: User, room: str, username: str) -> None:
        """Leave (`username` is the caller) or kick (moderators kick members, the owner
        anyone). The owner hands ownership over before leaving."""
        access = await self._rooms.readable(user, room)
        self._no_dm(access)
        target = await self._target(username)
        theirs = await self._role_of(access, target.id)
        if not theirs.member:
            raise NotFound(f"{target.username} is not a member", code="not_a_member")
        if not can_remove(user.username, access.role, target.username, theirs.role):
            if theirs.role == "owner":
                raise Forbidden("the owner hands ownership over first", code="owner_stays")
            raise not_moderator()
        kicked = target.id != user.id
        record = access.room
        await self._events.commit(
            record.name,
            lambda: self._store.remove_member(
                record.id, target.id, user.id, "kicked" if kicked else "left", self._clock()
            ),
        )
        if kicked:
            await self._events.to_user(
                target.username, "room_removed", room_removed_frame(record.name, "kicked")
            )

    async def ban(self, user: User, room: str, username: str) -> None:
        """A moderator or the owner bans `username`: removed now, refused later."""
        access = await self._rooms.moderated(user, room)
        self._no_dm(access)
        target = await self._target(username)
        theirs = await self._role_of(access, target.id)
        if not can_ban(user.username, access.role, target.username, theirs.role):
            if theirs.role == "owner" or target.id == user.id:
                raise Forbidden("the owner cannot be banned", code="owner_stays")
            raise not_moderator()
        record = access.room
        event = await self._events.commit(
            record.name, lambda: self._store.ban(record.id, target.id, user.id, self._clock())
        )
        if event is not None and theirs.member:
            await self._events.to_user(
                target.username, "room_removed", room_removed_frame(record.name, "banned")
            )

    async def unban(self, user: User, room: str, username: str) -> None:
        """A moderator or the owner lifts a ban (the user may join or be invited again)."""
        access = await self._rooms.moderated(user, room)
        target = await self._target(username)
        record = access.room
        event = await self._events.commit(
            record.name, lambda: self._store.unban(record.id, target.id, user.id, self._clock())
        )
        if event is None:
            raise NotFound(f"{target.username} is not banned", code="not_banned")

    async def bans(self, user: User, room: str) -> list[str]:
        """Who is banned (moderators and the owner only)."""
        access = await self._rooms.moderated(user, room)
        return await self._store.banned_names(access.room.id)

    async def set_role(self, user: User, room: str, username: str, role: str) -> None:
        """The owner gives a member a role; "owner" hands ownership over (the previous
        owner becomes a moderator)."""
        access = await self._rooms.readable(user, room)
        new_role = check_role(role)
        if access.role != "owner":
            raise Forbidden("only the owner changes roles", code="not_owner")
        self._no_dm(access)
        target = await self._target(username)
        if target.id == user.id:
            raise Conflict("hand ownership to another member", code="owner_stays")
        record = access.room
        await self._events.commit(
            record.name,
            lambda: self._store.set_role(record.id, target.id, new_role, user.id, self._clock()),
        )

    async def members(self, user: User, room: str) -> list[MemberRecord]:
        """The members and their roles (for whoever may see the room)."""
        access = await self._rooms.visible(user, room)
        return await self._store.members(access.room.id)

    async def member_names(self, room_id: int) -> list[str]:
        """Usernames of a room's members (for `joined`: callers checked access)."""
        return [m.username for m in await self._store.members(room_id)]

    async def is_moderator(self, user: User, room: str) -> bool:
        """Whether `user` moderates or owns `room`."""
        return is_moderator((await self._rooms.readable(user, room)).role)
