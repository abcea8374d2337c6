"""Bus events of a room: the WebSocket frames, encoded once, published after commit."""

from __future__ import annotations

import logging
from typing import Literal

from confab.chat.domain import Message, message_json
from confab.core import jsoncodec
from confab.core.ports import Bus

log = logging.getLogger("confab.chat.events")


def room_channel(room: str) -> str:
    """The bus channel of a room."""
    return f"room.{room}"


def message_frame(kind: Literal["message", "message_updated"], message: Message) -> bytes:
    """`{"type": kind, ...message}` as UTF-8 JSON."""
    return jsoncodec.dumps({"type": kind, **message_json(message)})


def deleted_frame(message: Message) -> bytes:
    """`{"type":"message_deleted","room","id","seq"}`."""
    return jsoncodec.dumps(
        {"type": "message_deleted", "room": message.room, "id": message.id, "seq": message.seq}
    )


def member_frame(kind: Literal["member_joined", "member_left"], room: str, user: str) -> bytes:
    """`{"type": kind, "room", "user"}`."""
    return jsoncodec.dumps({"type": kind, "room": room, "user": user})


class RoomEvents:
    """Publishes room frames on the bus; a bus failure never fails the committed change."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def publish(self, room: str, frame: bytes) -> None:
        """Publish `frame` on the room's channel (at most once; clients repair by resuming)."""
        try:
            await self._bus.publish(room_channel(room), frame)
        except Exception:
            # The change is stored; a hub that missed it sees the seq gap and reads the store.
            log.exception("publishing a room event failed", extra={"room": room})
