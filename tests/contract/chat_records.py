"""Records the chat store tests write."""

from __future__ import annotations

from datetime import datetime

from confab.core.chatstore import NewMessage, RoomRecord, UserRecord


def new_message(
    room: RoomRecord,
    author: UserRecord,
    text: str,
    client_id: str | None = None,
    *,
    at: datetime,
) -> NewMessage:
    """A message by `author` in `room`, created `at`."""
    return NewMessage(
        room_id=room.id,
        room=room.name,
        author_id=author.id,
        author=author.username,
        text=text,
        client_id=client_id,
        attachments=(),
        created_at=at,
    )
