"""Records and helpers the chat store tests share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from confab.core import jsoncodec
from confab.core.chatstore import ChatStore, NewMessage, RoomRecord, UserRecord
from confab.core.roomlog import RoomEvent

NOW = datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def new_message(
    room: RoomRecord,
    author: UserRecord,
    text: str,
    client_id: str | None = None,
    *,
    at: datetime,
    reply_to: int | None = None,
    mentions: tuple[str, ...] = (),
    mentions_room: bool = False,
    attachments: tuple[dict[str, Any], ...] = (),
) -> NewMessage:
    """A message by `author` in `room`, created `at`."""
    return NewMessage(
        room_id=room.id,
        room=room.name,
        author_id=author.id,
        author=author.username,
        text=text,
        client_id=client_id,
        attachments=attachments,
        created_at=at,
        reply_to=reply_to,
        mentions=mentions,
        mentions_room=mentions_room,
    )


async def user(store: ChatStore, name: str) -> UserRecord:
    """A new account named `name`."""
    return await store.create_user(name, f"hash-of-{name}", NOW)


async def room(store: ChatStore, name: str, owner: UserRecord, private: bool = False) -> RoomRecord:
    """A new room named `name` owned by `owner`."""
    return await store.create_room(name, f"about {name}", private, owner.id, NOW)


def frame(event: RoomEvent | None) -> dict[str, Any]:
    """The decoded frame of an event (which must exist)."""
    assert event is not None
    decoded: dict[str, Any] = jsoncodec.loads(event.payload)
    return decoded


async def whole_log(store: ChatStore, room_id: int) -> list[RoomEvent]:
    """Every stored event of a room, in seq order."""
    return await store.events_after(room_id, 0, 10_000)
