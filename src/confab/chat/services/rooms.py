"""Rooms: who may see one (the one membership check), create, list, update, delete,
notification levels and read markers."""

from __future__ import annotations

from confab.chat.domain import (
    ROOM_NAME,
    User,
    check_notify,
    check_seq,
    check_title,
    check_topic,
    is_moderator,
    normalize_room_name,
)
from confab.chat.protocol import room_deleted_frame, room_removed_frame
from confab.chat.services.config import Clock, utc_now
from confab.chat.services.events import RoomEvents
from confab.core import jsoncodec
from confab.core.chatstore import ChatStore, RoomAccess, RoomRecord, RoomSummary
from confab.core.errors import Forbidden, NotFound, excerpt
from confab.core.roomlog import RoomEvent


def no_room(name: str) -> NotFound:
    """The error for a room that does not exist, or that the caller may not know of."""
    return NotFound(f"no room {excerpt(name)!r}", code="room_not_found")


def not_member() -> Forbidden:
    """The error for reading or writing a public room one has not joined."""
    return Forbidden("you are not a member of this room", code="not_a_member")


def not_moderator() -> Forbidden:
    """The error for a moderator's action by a plain member."""
    return Forbidden("only a moderator or the owner may do this", code="not_moderator")


def view_of(access: RoomAccess, members: int, participants: tuple[str, ...] | None) -> RoomSummary:
    """The Room object of `access` (no unread counts: those come from the listing)."""
    return RoomSummary(
        access.room,
        access.member,
        members,
        role=access.role,
        read_seq=access.read_seq,
        notify=access.notify,
        participants=participants,
    )


class RoomService:
    """Room use cases. Every check of who may read a room is `visible`/`readable` here."""

    def __init__(self, store: ChatStore, events: RoomEvents, clock: Clock = utc_now) -> None:
        self._store = store
        self._events = events
        self._clock = clock

    # who sees what

    async def visible(self, user: User, room: str) -> RoomAccess:
        """The room as `user` sees it; `room_not_found` if there is none or it is private
        (a DM included) and `user` is not in it: outsiders cannot tell the two apart."""
        name = room.lower()
        # A name that cannot be valid names no room: no query for it.
        access = await self._store.room_access(name, user.id) if ROOM_NAME.fullmatch(name) else None
        if access is None or (access.room.private and not access.member):
            raise no_room(room)
        return access

    async def readable(self, user: User, room: str) -> RoomAccess:
        """The room, for a member only (`not_a_member` for a public room one is not in)."""
        access = await self.visible(user, room)
        if not access.member:
            raise not_member()
        return access

    async def moderated(self, user: User, room: str) -> RoomAccess:
        """The room, for its moderators and owner only."""
        access = await self.readable(user, room)
        if not is_moderator(access.role):
            raise not_moderator()
        return access

    async def view(self, access: RoomAccess) -> RoomSummary:
        """The Room object of `access`, with its member count (and a DM's participants)."""
        participants = None
        if access.room.kind == "dm":
            names = tuple(m.username for m in await self._store.members(access.room.id))
            return view_of(access, len(names), names)
        return view_of(access, await self._store.member_count(access.room.id), participants)

    async def view_for(self, room: RoomRecord, user_id: int) -> RoomSummary | None:
        """`room` as user `user_id` sees it (for `room_added`), None if it is gone."""
        access = await self._store.room_access(room.name, user_id)
        return None if access is None else await self.view(access)

    # use cases

    async def create(
        self, user: User, name: str, topic: str = "", private: bool = False, title: str = ""
    ) -> RoomSummary:
        """A new room owned by `user`, who is its first member."""
        room = await self._store.create_room(
            normalize_room_name(name), check_topic(topic), private, user.id, self._clock()
        )
        if title:
            check_title(title)
            await self._events.commit(
                room.name, lambda: self._store.set_title(room.id, title, user.id, self._clock())
            )
        return await self.get(user, room.name)

    async def get(self, user: User, room: str) -> RoomSummary:
        """One room; a private one only for its members."""
        return await self.view(await self.visible(user, room))

    async def list_for(self, user: User) -> list[RoomSummary]:
        """The rooms and DMs `user` is in, and every public room, by name: the store's
        listing as it is (a DM's participants included, read with it)."""
        return await self._store.list_rooms(user.id)

    async def update(
        self, user: User, room: str, topic: str | None = None, title: str | None = None
    ) -> RoomSummary:
        """A moderator or the owner sets the topic and/or the title."""
        access = await self.moderated(user, room)
        record, now = access.room, self._clock()
        if topic is not None:
            check_topic(topic)
            await self._events.commit(
                record.name, lambda: self._store.set_topic(record.id, topic, user.id, now)
            )
        if title is not None:
            check_title(title)
            await self._events.commit(
                record.name, lambda: self._store.set_title(record.id, title, user.id, now)
            )
        return await self.get(user, room)

    async def delete(self, user: User, room: str) -> None:
        """The owner deletes the room with its log; connections to it are dropped."""
        access = await self.readable(user, room)
        if access.role != "owner":
            raise Forbidden("only the owner deletes a room", code="not_owner")
        members = await self._store.members(access.room.id)
        name = access.room.name
        if not await self._store.delete_room(access.room.id):
            raise no_room(room)
        await self._events.ephemeral(name, "room_deleted", room_deleted_frame(name))
        for member in members:
            await self._events.to_user(
                member.username, "room_removed", room_removed_frame(name, "deleted")
            )

    async def set_notify(self, user: User, room: str, level: str) -> RoomSummary:
        """The caller's notification level in a room they are in."""
        access = await self.readable(user, room)
        if not await self._store.set_notify(access.room.id, user.id, check_notify(level)):
            raise not_member()
        return await self.get(user, room)

    async def mark_read(
        self, user: User, room: str, seq: int, joined: RoomAccess | None = None
    ) -> tuple[int, RoomEvent | None]:
        """Move the caller's read marker forward; the marker now, and the `read` event
        (None when it did not move). Every device of the caller joined to the room gets it.
        `joined`: the access cached at join (the store moves only a member's marker).
        """
        access = joined if joined is not None else await self.readable(user, room)
        check_seq(seq)
        record = access.room
        event = await self._events.commit(
            record.name, lambda: self._store.mark_read(record.id, user.id, seq, self._clock())
        )
        if event is not None:
            marker: int = jsoncodec.loads(event.payload)["read_seq"]
            return marker, event
        again = await self.readable(user, room)
        return again.read_seq, None

    # the hub's view of the log (unchecked: hubs deliver only to connections that passed
    # `readable`, and drop them on removal)

    async def last_seq(self, room: str) -> int:
        """The seq of `room`'s newest event (0 when none or gone)."""
        record = await self._store.get_room(room)
        return 0 if record is None else record.last_seq

    async def events_after(self, room: str, after: int, limit: int) -> list[RoomEvent]:
        """`room`'s stored events past `after`, in seq order ([] when gone)."""
        record = await self._store.get_room(room)
        return [] if record is None else await self._store.events_after(record.id, after, limit)

    async def replay(self, access: RoomAccess, after: int, limit: int) -> list[RoomEvent]:
        """The events a member resuming from `after` gets (for `resume`: the caller
        passed `readable`): everything but other users' read markers."""
        page = await self._store.events_after(access.room.id, after, limit)
        return page
