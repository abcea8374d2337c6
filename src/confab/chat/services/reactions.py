"""Reactions: any emoji on a message, added and removed by members (idempotent)."""

from __future__ import annotations

from confab.chat.domain import User, check_emoji
from confab.chat.services.config import Clock, utc_now
from confab.chat.services.events import RoomEvents
from confab.chat.services.rooms import RoomService
from confab.core.chatstore import ChatStore, RoomAccess
from confab.core.errors import NotFound
from confab.core.roomlog import RoomEvent


class ReactionService:
    """Adds and removes a member's reactions; each change is a room event."""

    def __init__(
        self, store: ChatStore, rooms: RoomService, events: RoomEvents, clock: Clock = utc_now
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._events = events
        self._clock = clock

    async def react(
        self,
        user: User,
        room: str,
        message_id: int,
        emoji: str,
        on: bool,
        joined: RoomAccess | None = None,
    ) -> RoomEvent | None:
        """Add (`on`) or take back `emoji` on a message: the event, None if nothing
        changed (the same reaction twice, or one that was not there).

        `joined`: the access cached at join (saves a read; the store checks membership
        in the write's transaction)."""
        check_emoji(emoji)
        access = joined if joined is not None else await self._rooms.readable(user, room)
        if not 1 <= message_id < 2**63:
            raise NotFound(f"no message {message_id} in this room", code="message_not_found")
        record, now = access.room, self._clock()
        if on:
            return await self._events.commit(
                record.name,
                lambda: self._store.add_reaction(record.id, message_id, user.id, emoji, now),
            )
        return await self._events.commit(
            record.name,
            lambda: self._store.remove_reaction(record.id, message_id, user.id, emoji, now),
        )
