"""Rooms and membership: create, list, join, leave, invite, kick, ban."""

from __future__ import annotations

from confab.chat.domain import (
    ROOM_NAME,
    RoomView,
    User,
    can_manage,
    can_read,
    can_remove,
    check_topic,
    join_refusal,
    normalize_room_name,
    normalize_username,
)
from confab.chat.services.config import Clock, utc_now
from confab.chat.services.events import RoomEvents, member_frame
from confab.core.chatstore import ChatStore, RoomAccess, RoomRecord, UserRecord
from confab.core.errors import Conflict, Forbidden, InvalidInput, NotFound, excerpt

_JOIN_REFUSALS = {
    "banned": "you are banned from this room",
    "invite_only": "this room is private: its owner must invite you",
}


def _no_room(name: str) -> NotFound:
    return NotFound(f"no room {excerpt(name)!r}", code="room_not_found")


class RoomService:
    """Room use cases; membership changes are published as `member_*` frames after commit."""

    def __init__(self, store: ChatStore, events: RoomEvents, clock: Clock = utc_now) -> None:
        self._store = store
        self._events = events
        self._clock = clock

    async def access(self, user: User, room: str) -> RoomAccess:
        """The room as `user` sees it; `NotFound("room_not_found")` if there is none, or if
        it is private and `user` is not a member: its existence does not show."""
        name = room.lower()
        # A name that cannot be valid names no room: no query for it.
        access = await self._store.room_access(name, user.id) if ROOM_NAME.fullmatch(name) else None
        if access is None or (access.room.private and not access.member):
            raise _no_room(room)
        return access

    async def _room(self, room: str) -> RoomRecord:
        name = room.lower()
        record = await self._store.get_room(name) if ROOM_NAME.fullmatch(name) else None
        if record is None:
            raise _no_room(room)
        return record

    async def _target(self, username: str) -> UserRecord:
        try:
            name = normalize_username(username)
        except InvalidInput:
            name = ""
        record = await self._store.get_user(name) if name else None
        if record is None:
            raise NotFound(f"no user {excerpt(username)!r}", code="user_not_found")
        return record

    async def _view(self, access: RoomAccess) -> RoomView:
        members = await self._store.member_count(access.room.id)
        return RoomView(access.room, access.member, members)

    async def create(
        self, user: User, name: str, topic: str = "", private: bool = False
    ) -> RoomView:
        """A new room owned by `user`, who is its first member."""
        room = await self._store.create_room(
            normalize_room_name(name), check_topic(topic), private, user.id, self._clock()
        )
        return RoomView(room, member=True, members=1)

    async def get(self, user: User, room: str) -> RoomView:
        """One room; a private one only for its members (`access` sees to that)."""
        return await self._view(await self.access(user, room))

    async def list_for(self, user: User) -> list[RoomView]:
        """The rooms `user` is in, and every public room, by name."""
        return [
            RoomView(s.room, s.member, s.members) for s in await self._store.list_rooms(user.id)
        ]

    async def join(self, user: User, room: str) -> RoomView:
        """Join a public room (or one already joined); publishes `member_joined`."""
        access = await self.access(user, room)
        refusal = join_refusal(access.room, access.member, access.banned)
        if refusal is not None:
            raise Forbidden(_JOIN_REFUSALS[refusal], code=refusal)
        if await self._store.add_member(access.room.id, user.id, self._clock()):
            await self._events.publish(
                access.room.name, member_frame("member_joined", access.room.name, user.username)
            )
        return await self._view(RoomAccess(access.room, member=True, banned=False))

    async def invite(self, user: User, room: str, username: str) -> RoomView:
        """The owner adds `username` to the room (private or not)."""
        access = await self.access(user, room)
        if not can_manage(user.username, access.room):
            raise Forbidden("only the room owner invites", code="not_owner")
        target = await self._target(username)
        banned = await self._store.room_access(access.room.name, target.id)
        if banned is not None and banned.banned:
            raise Conflict(f"{target.username} is banned from this room", code="user_banned")
        if await self._store.add_member(access.room.id, target.id, self._clock()):
            await self._events.publish(
                access.room.name, member_frame("member_joined", access.room.name, target.username)
            )
        return await self._view(access)

    async def leave(self, user: User, room: str) -> None:
        """Leave a room; the owner cannot. Publishes `member_left`."""
        await self.remove(user, room, user.username)

    async def kick(self, user: User, room: str, username: str) -> None:
        """The owner removes a member. Publishes `member_left`."""
        await self.remove(user, room, username)

    async def remove(self, user: User, room: str, username: str) -> None:
        """Leave (`username` is the caller) or kick (the caller owns the room)."""
        access = await self.access(user, room)
        target = await self._target(username)
        if not can_remove(user.username, access.room, target.username):
            if target.username == access.room.owner:
                raise Forbidden("the owner cannot leave or be removed", code="owner_stays")
            raise Forbidden("only the room owner removes others", code="not_owner")
        if not await self._store.remove_member(access.room.id, target.id):
            raise NotFound(f"{target.username} is not a member", code="not_a_member")
        await self._events.publish(
            access.room.name, member_frame("member_left", access.room.name, target.username)
        )

    async def ban(self, user: User, room: str, username: str) -> None:
        """The owner bans `username`: removed now, refused later. Publishes `member_left`."""
        access = await self.access(user, room)
        if not can_manage(user.username, access.room):
            raise Forbidden("only the room owner bans", code="not_owner")
        target = await self._target(username)
        if target.username == access.room.owner:
            raise Forbidden("the owner cannot be banned", code="owner_stays")
        if await self._store.ban(access.room.id, target.id, self._clock()):
            await self._events.publish(
                access.room.name, member_frame("member_left", access.room.name, target.username)
            )

    async def is_member(self, user: User, room: str) -> bool:
        """Whether `user` is a member of `room` (False if there is no such room)."""
        try:
            access = await self.access(user, room)
        except NotFound:
            return False
        return can_read(access.member)

    async def members(self, room: str) -> list[str]:
        """Usernames of the room's members, sorted."""
        return await self._store.member_names((await self._room(room)).id)
