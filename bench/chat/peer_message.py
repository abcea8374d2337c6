"""The message JSON both peers push: Confab's own `message` object (`roomlog.message_json`,
the one definition of that wire shape) for a new, plain message, so every server in the
benchmark pushes frames of the same fields and size."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from confab.core.chatstore import MessageRecord
from confab.core.roomlog import message_json as confab_message_json


def message_json(
    message_id: int, room: str, seq: int, author: str, text: Any, client_id: Any
) -> dict[str, Any]:
    """A new, plain message as Confab sends it (without the frame's `type`)."""
    record = MessageRecord(
        id=message_id,
        room=room,
        seq=seq,
        author=author,
        text=text,
        created_at=datetime.now(UTC),
        edited_at=None,
        deleted=False,
        attachments=(),
        previews=(),
        client_id=client_id,
    )
    return confab_message_json(record)
