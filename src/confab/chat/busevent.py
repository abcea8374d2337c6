"""The one definition of what travels on the bus: a header line, then the frame.

`<seq> <type> <subject>\\n<frame>`: `seq` is the room event's seq (0 for an ephemeral
frame such as typing, presence or `room_deleted`), `type` the frame's type and `subject`
the user the event is about (`-` when none; usernames are 3-32 characters, so `-` names
nobody). The frame after the newline is the exact WebSocket payload, so a hub reads the
header to order, gap-check and filter, and writes the frame out without decoding JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from confab.core.roomlog import RoomEvent

_NONE = "-"


@dataclass(frozen=True, slots=True)
class BusEvent:
    """A decoded bus message: header fields and the untouched frame bytes."""

    seq: int  # 0: ephemeral, no place in the room's log
    type: str
    subject: str | None
    payload: bytes


def room_channel(room: str) -> str:
    """The bus channel of a room."""
    return f"room.{room}"


def user_channel(username: str) -> str:
    """The bus channel of one user (every connection of theirs, on every node)."""
    return f"user.{username}"


def encode(seq: int, kind: str, subject: str | None, payload: bytes) -> bytes:
    """The bus message for a frame."""
    head = f"{seq} {kind} {subject or _NONE}\n".encode()
    return head + payload


def encode_event(event: RoomEvent) -> bytes:
    """The bus message of a stored room event."""
    return encode(event.seq, event.type, event.subject, event.payload)


def encode_ephemeral(kind: str, payload: bytes, subject: str | None = None) -> bytes:
    """The bus message of a frame with no seq (typing, presence, room_deleted)."""
    return encode(0, kind, subject, payload)


def decode(message: bytes) -> BusEvent:
    """The header and frame of a bus message; `ValueError` if it has no valid header."""
    head, sep, payload = message.partition(b"\n")
    if not sep:
        raise ValueError("a bus message starts with a header line")
    parts = head.decode("ascii").split(" ")
    if len(parts) != 3:
        raise ValueError("a bus header is '<seq> <type> <subject>'")
    seq = int(parts[0])
    if seq < 0:
        raise ValueError("a seq is >= 0")
    subject = None if parts[2] == _NONE else parts[2]
    return BusEvent(seq=seq, type=parts[1], subject=subject, payload=payload)


def as_room_event(room: str, event: BusEvent) -> RoomEvent:
    """A decoded room event as the store's record (for a hub's uniform handling)."""
    return RoomEvent(
        room=room, seq=event.seq, type=event.type, subject=event.subject, payload=event.payload
    )
