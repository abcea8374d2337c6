"""Client frames that change a room or tell it something: send, react, read, typing.

Each calls one service (which checks membership) and answers the sender; a connection
joined to the room passes the access read at join, so the service skips its read (the
store still refuses a non-member inside the write's transaction, and a removal drops the
connection from the room, the cached access with it); the room hears
of the change through the bus and the hub, the sender's own connections included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from confab.chat.busevent import encode_ephemeral, room_channel
from confab.chat.protocol import React, Read, Send, Typing, ack_frame, ack_seq_frame, typing_frame
from confab.core.errors import Forbidden

if TYPE_CHECKING:
    from confab.chat.web.session import Session


async def send(session: Session, frame: Send) -> None:
    """Store a message; ack it (again for a repeated client_id)."""
    message, _ = await session.rt.services.messages.send(
        session.user,
        frame.room,
        frame.text,
        frame.client_id,
        frame.attachments,
        frame.reply_to,
        joined=session.joined_access(frame.room),
    )
    session.conn.send(ack_frame(frame.client_id, message.id, message.seq))


async def react(session: Session, frame: React) -> None:
    """Add or take back a reaction; ack with its seq (null: nothing changed)."""
    event = await session.rt.services.reactions.react(
        session.user,
        frame.room,
        frame.target,
        frame.emoji,
        frame.on,
        joined=session.joined_access(frame.room),
    )
    session.conn.send(ack_seq_frame(frame.client_id, None if event is None else event.seq))


async def read(session: Session, frame: Read) -> None:
    """Move the read marker; every device of the user joined to the room gets `read`."""
    _, event = await session.rt.services.rooms.mark_read(
        session.user, frame.room, frame.seq, joined=session.joined_access(frame.room)
    )
    session.conn.send(ack_seq_frame(frame.client_id, None if event is None else event.seq))


async def typing(session: Session, frame: Typing) -> None:
    """Tell the room (throttled); only from a connection receiving the room."""
    rt, room = session.rt, frame.room
    if not rt.hub.is_joined(session.conn, room):
        raise Forbidden("join the room first", code="not_joined")
    if rt.typing.allow(session.user.username, room):
        message = encode_ephemeral("typing", typing_frame(room, session.user.username))
        await rt.bus.publish(room_channel(room), message)
