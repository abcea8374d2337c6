"""The message JSON both peers push: the same fields as Confab's `message` frame (id, room,
seq, author, text, created_at, edited_at, deleted, attachments, previews, client_id,
reply_to, thread_root, reply_count, last_reply_at, reactions, mentions, mentions_room), so
every server in the benchmark pushes frames of the same size."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def message_json(
    message_id: int, room: str, seq: int, author: str, text: Any, client_id: Any
) -> dict[str, Any]:
    """A new, plain message as Confab sends it (without the frame's `type`)."""
    return {
        "id": message_id,
        "room": room,
        "seq": seq,
        "author": author,
        "text": text,
        "created_at": datetime.now(UTC).isoformat(),
        "edited_at": None,
        "deleted": False,
        "attachments": [],
        "previews": [],
        "client_id": client_id,
        "reply_to": None,
        "thread_root": None,
        "reply_count": 0,
        "last_reply_at": None,
        "reactions": [],
        "mentions": [],
        "mentions_room": False,
    }
