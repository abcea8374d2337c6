"""Chat rules as pure functions: validation, permissions, and the JSON shapes.

Nothing here does I/O. Validation raises `InvalidInput` with a reason code (the HTTP API
answers 422); permission checks return booleans and the services pick the error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confab.core.chatstore import MessageRecord, RoomRecord
from confab.core.errors import InvalidInput
from confab.core.ids import is_content_id

USERNAME = re.compile(r"[a-z0-9_.-]{3,32}")
ROOM_NAME = re.compile(r"[a-z0-9_-]{1,64}")
# Printable ASCII without spaces: UUIDs, nanoids, counters all fit.
CLIENT_ID = re.compile(r"[\x21-\x7e]{1,64}")
# Characters that show nothing: whitespace (`str.isspace`) and control characters (Cc).
_INVISIBLE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# The same rules as JSON Schema patterns, for the API document (ECMA and Python agree): no
# NUL (PostgreSQL text cannot hold it). Lone surrogates cannot arrive in UTF-8 JSON at all.
STORABLE_PATTERN = r"^[^\x00]*$"
TEXT_PATTERN = f"^[^\\x00]*[^{_INVISIBLE}][^\\x00]*$"
_VISIBLE = re.compile(f"[^{_INVISIBLE}]")

MIN_PASSWORD = 8
# argon2 hashes anything, but a megabyte password is only a way to burn our CPU.
MAX_PASSWORD = 1024
MAX_TEXT = 4000
MAX_TOPIC = 256
MAX_ATTACHMENTS = 10
DEFAULT_LIMIT = 50
MAX_LIMIT = 100

# A stored message is the domain's message: a plain frozen record.
Message = MessageRecord


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated user."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class Token:
    """A session token as given to its owner (only its hash is stored)."""

    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room as one user sees it."""

    room: RoomRecord
    member: bool
    members: int


# validation


def _storable(value: str, what: str, code: str) -> None:
    # PostgreSQL text cannot hold NUL, and lone surrogates are not UTF-8.
    if "\x00" in value:
        raise InvalidInput(f"{what} contains a NUL character", code=code)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid UTF-8", code=code) from None


def normalize_username(raw: str) -> str:
    """The stored (lowercase) form of a username; 3-32 of [a-z0-9_.-]."""
    name = raw.lower()
    if not USERNAME.fullmatch(name):
        raise InvalidInput(
            "a username is 3-32 characters of a-z, 0-9, '_', '.', '-'", code="invalid_username"
        )
    return name


def normalize_room_name(raw: str) -> str:
    """The stored (lowercase) form of a room name; 1-64 of [a-z0-9_-]."""
    name = raw.lower()
    if not ROOM_NAME.fullmatch(name):
        raise InvalidInput(
            "a room name is 1-64 characters of a-z, 0-9, '_', '-'", code="invalid_room_name"
        )
    return name


def check_password(password: str) -> str:
    """A password of 8 to 1024 characters."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"a password has at least {MIN_PASSWORD} characters", code="password_too_short"
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"a password has at most {MAX_PASSWORD} characters", code="password_too_long"
        )
    _storable(password, "the password", "invalid_password")
    return password


def check_text(text: str) -> str:
    """Message text: 1-4000 characters, some visible (not only blanks or control characters)."""
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"a message has at most {MAX_TEXT} characters", code="text_too_long")
    if not _VISIBLE.search(text):
        raise InvalidInput("a message needs some visible text", code="text_empty")
    _storable(text, "the text", "invalid_text")
    return text


def check_topic(topic: str) -> str:
    """A room topic: up to 256 characters."""
    if len(topic) > MAX_TOPIC:
        raise InvalidInput(f"a topic has at most {MAX_TOPIC} characters", code="topic_too_long")
    _storable(topic, "the topic", "invalid_topic")
    return topic


def check_client_id(client_id: str | None) -> str | None:
    """An optional idempotency key: 1-64 printable ASCII characters, no spaces."""
    if client_id is not None and not CLIENT_ID.fullmatch(client_id):
        raise InvalidInput(
            "client_id is 1-64 printable ASCII characters without spaces", code="invalid_client_id"
        )
    return client_id


def check_attachments(attachments: Iterable[str]) -> tuple[str, ...]:
    """Upload ids (64 lowercase hex), at most 10, duplicates dropped, order kept."""
    ids = tuple(dict.fromkeys(attachments))
    if len(ids) > MAX_ATTACHMENTS:
        raise InvalidInput(
            f"a message has at most {MAX_ATTACHMENTS} attachments", code="too_many_attachments"
        )
    for upload_id in ids:
        if not is_content_id(upload_id):
            raise InvalidInput(
                "an attachment is an upload id: 64 lowercase hex characters",
                code="invalid_attachment",
            )
    return ids


def check_page(before: int | None, after: int | None, limit: int) -> None:
    """History paging: seqs >= 0, 1 <= limit <= 100 (`before` and `after` may be combined)."""
    if (before is not None and before < 0) or (after is not None and after < 0):
        raise InvalidInput("before and after are seqs (>= 0)", code="invalid_page")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is 1 to {MAX_LIMIT}", code="invalid_limit")


# permissions


def can_read(member: bool) -> bool:
    """History and live messages are for members."""
    return member


def can_post(member: bool) -> bool:
    """Only members post."""
    return member


def join_refusal(room: RoomRecord, member: bool, banned: bool) -> str | None:
    """Why `join` is refused (a reason code), or None when it is allowed."""
    if banned:
        return "banned"
    if room.private and not member:
        return "invite_only"
    return None


def can_manage(username: str, room: RoomRecord) -> bool:
    """Invite, kick and ban are the owner's."""
    return username == room.owner


def can_remove(username: str, room: RoomRecord, target: str) -> bool:
    """Anyone may leave; the owner may kick others; the owner never leaves or is kicked."""
    if target == room.owner:
        return False
    return username == target or username == room.owner


def can_edit(username: str, message: Message) -> bool:
    """Only the author edits, and only a message not deleted."""
    return message.author == username and not message.deleted


def can_delete(username: str, message: Message, room: RoomRecord) -> bool:
    """The author or the room owner deletes."""
    return message.author == username or room.owner == username


# JSON shapes (API and WebSocket)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, e.g. `2024-06-01T12:00:00.123456Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_json(message: Message) -> dict[str, Any]:
    """The message object of the API and the WebSocket frames."""
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
    }


def room_json(view: RoomView) -> dict[str, Any]:
    """The room object of the API."""
    room = view.room
    return {
        "name": room.name,
        "topic": room.topic,
        "private": room.private,
        "owner": room.owner,
        "last_seq": room.last_seq,
        "member": view.member,
        "members": view.members,
    }
