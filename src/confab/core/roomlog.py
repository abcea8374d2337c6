"""The room event log's wire shapes: one builder per event type, used by every store.

A room is an ordered log. Every durable change (a message, an edit, a deletion, a
reaction, link previews, the topic or title, membership, roles, a read marker) takes the
room's next `seq` in the transaction that makes it, and is stored as the frame that the
WebSocket sends: `{"type", "room", "seq", ...}` as UTF-8 JSON. The same bytes are published
on the bus after commit, fanned out to sockets, and replayed by `resume` and by a hub
repairing a gap. Typing and presence are ephemeral and have no seq (not built here).

The builders live in core because stores (adapters) make the frames inside their
transaction, once the seq is known, and adapters may not import `confab.chat`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confab.core import jsoncodec
from confab.core.chatstore import LeaveReason, MessageRecord, Role

# Event types that end a user's right to read the room: a hub stops delivering the room
# to that user's connections when it fans one out (the removed user gets this one last).
REMOVALS = frozenset({"member_left", "member_banned"})


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """One stored event: its seq, its type, whom it removes or concerns, the frame."""

    room: str
    seq: int
    type: str
    # The user a membership, role or read event is about (None for message events).
    subject: str | None
    payload: bytes  # the frame: {"type","room","seq",...}

    @property
    def removes(self) -> str | None:
        """The user this event removes from the room, if it is a removal."""
        return self.subject if self.type in REMOVALS else None


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, e.g. `2024-06-01T12:00:00.123456Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_json(message: MessageRecord) -> dict[str, Any]:
    """The message object of the API, the `message` event and history (state folded in)."""
    return {
        "id": message.id,
        "room": message.room,
        "seq": message.seq,
        "author": message.author,
        "text": message.text,
        "created_at": iso(message.created_at),
        "edited_at": None if message.edited_at is None else iso(message.edited_at),
        "deleted": message.deleted,
        "attachments": list(message.attachments),
        "previews": list(message.previews),
        "client_id": message.client_id,
        "reply_to": message.reply_to,
        "thread_root": message.thread_root,
        "reply_count": message.reply_count,
        "last_reply_at": None if message.last_reply_at is None else iso(message.last_reply_at),
        "reactions": [
            {"emoji": r.emoji, "count": r.count, "users": list(r.users)} for r in message.reactions
        ],
        "mentions": list(message.mentions),
        "mentions_room": message.mentions_room,
    }


def _event(kind: str, room: str, seq: int, subject: str | None, body: dict[str, Any]) -> RoomEvent:
    payload = jsoncodec.dumps({"type": kind, "room": room, "seq": seq, **body})
    return RoomEvent(room=room, seq=seq, type=kind, subject=subject, payload=payload)


# messages


def message_posted(message: MessageRecord) -> RoomEvent:
    """`message`: the new message as a whole (its seq is the event's seq)."""
    return RoomEvent(
        room=message.room,
        seq=message.seq,
        type="message",
        subject=None,
        payload=jsoncodec.dumps({"type": "message", **message_json(message)}),
    )


def message_edited(
    room: str, seq: int, target: int, text: str, edited_at: datetime, actor: str
) -> RoomEvent:
    """`message_edited`: message `target` now reads `text`."""
    body = {"target": target, "text": text, "edited_at": iso(edited_at), "actor": actor}
    return _event("message_edited", room, seq, None, body)


def message_deleted(room: str, seq: int, target: int, actor: str) -> RoomEvent:
    """`message_deleted`: message `target` is blanked (text, attachments, previews)."""
    return _event("message_deleted", room, seq, None, {"target": target, "actor": actor})


def previews_set(room: str, seq: int, target: int, previews: list[dict[str, Any]]) -> RoomEvent:
    """`previews_set`: message `target`'s link previews are now `previews`."""
    return _event("previews_set", room, seq, None, {"target": target, "previews": previews})


def reaction_added(room: str, seq: int, target: int, emoji: str, user: str) -> RoomEvent:
    """`reaction_added`: `user` reacted to message `target` with `emoji`."""
    body = {"target": target, "emoji": emoji, "user": user}
    return _event("reaction_added", room, seq, user, body)


def reaction_removed(room: str, seq: int, target: int, emoji: str, user: str) -> RoomEvent:
    """`reaction_removed`: `user` took back their `emoji` on message `target`."""
    body = {"target": target, "emoji": emoji, "user": user}
    return _event("reaction_removed", room, seq, user, body)


# the room


def topic_changed(room: str, seq: int, topic: str, actor: str) -> RoomEvent:
    """`topic_changed`."""
    return _event("topic_changed", room, seq, None, {"topic": topic, "actor": actor})


def title_changed(room: str, seq: int, title: str, actor: str) -> RoomEvent:
    """`title_changed`: the room's display name (its `name` in URLs never changes)."""
    return _event("title_changed", room, seq, None, {"title": title, "actor": actor})


# membership and roles


def member_joined(room: str, seq: int, user: str, actor: str, role: Role) -> RoomEvent:
    """`member_joined`: `user` joined (actor == user) or was invited/added by `actor`."""
    body = {"user": user, "actor": actor, "role": role}
    return _event("member_joined", room, seq, user, body)


def member_left(room: str, seq: int, user: str, actor: str, reason: LeaveReason) -> RoomEvent:
    """`member_left`: `user` left (reason "left") or `actor` kicked them ("kicked")."""
    body = {"user": user, "actor": actor, "reason": reason}
    return _event("member_left", room, seq, user, body)


def member_banned(room: str, seq: int, user: str, actor: str) -> RoomEvent:
    """`member_banned`: `user` is removed (if a member) and may not come back."""
    return _event("member_banned", room, seq, user, {"user": user, "actor": actor})


def member_unbanned(room: str, seq: int, user: str, actor: str) -> RoomEvent:
    """`member_unbanned`: `user` may join again (they are not made a member)."""
    return _event("member_unbanned", room, seq, user, {"user": user, "actor": actor})


def role_changed(room: str, seq: int, user: str, role: Role, actor: str) -> RoomEvent:
    """`role_changed`: `user` is now `role` (an ownership transfer is two of these)."""
    body = {"user": user, "role": role, "actor": actor}
    return _event("role_changed", room, seq, user, body)


# read markers


def read_marker(room: str, seq: int, user: str, read_seq: int) -> RoomEvent:
    """`read`: `user` has read the room up to `read_seq` (syncs their devices)."""
    return _event("read", room, seq, user, {"user": user, "read_seq": read_seq})
