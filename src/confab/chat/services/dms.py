"""Direct conversations: 1:1 and groups of up to `MAX_DM_USERS` people.

A DM is a private room of kind "dm" named after its participants (`dm_name`), so opening
the same set of people twice gives the same conversation. Each participant hears of a new
one live on their own channel (`room_added`).
"""

from __future__ import annotations

from collections.abc import Sequence

from confab.chat.domain import User, normalize_username, room_json
from confab.chat.protocol import room_added_frame
from confab.chat.services.config import Clock, utc_now
from confab.chat.services.events import RoomEvents
from confab.chat.services.rooms import RoomService
from confab.core.chatstore import MAX_DM_USERS, ChatStore, RoomSummary, dm_name
from confab.core.errors import InvalidInput, NotFound


class DirectMessages:
    """Opens DMs."""

    def __init__(
        self, store: ChatStore, rooms: RoomService, events: RoomEvents, clock: Clock = utc_now
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._events = events
        self._clock = clock

    async def open(self, user: User, usernames: Sequence[str]) -> tuple[RoomSummary, bool]:
        """The DM of `user` and `usernames` (1 to 8 others), and whether it is new."""
        others: list[str] = []
        for raw in usernames:
            try:
                name = normalize_username(raw)
            except InvalidInput:
                raise NotFound(f"no user {raw[:40]!r}", code="user_not_found") from None
            if name != user.username and name not in others:
                others.append(name)
        if not others:
            raise InvalidInput("name at least one other person", code="dm_needs_people")
        if len(others) > MAX_DM_USERS - 1:
            raise InvalidInput(
                f"a conversation has at most {MAX_DM_USERS} people", code="dm_too_large"
            )
        ids = await self._store.users_named(others)
        missing = [name for name in others if name not in ids]
        if missing:
            raise NotFound(f"no user {missing[0]!r}", code="user_not_found")
        participants = [user.id, *ids.values()]
        room, events = await self._events.commit(
            dm_name(participants),
            lambda: self._store.open_dm(participants, user.id, self._clock()),
        )
        if events:
            for name in others:
                view = await self._rooms.view_for(room, ids[name])
                if view is not None:
                    await self._events.to_user(
                        name, "room_added", room_added_frame(room_json(view))
                    )
        return await self._rooms.get(user, room.name), bool(events)
