"""Chat rules as pure functions: validation, permissions, and the JSON shapes.

Nothing here does I/O. Validation raises `InvalidInput` with a reason code (the HTTP API
answers 422); permission checks return booleans and the services pick the error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confab.core.chatstore import MessageRecord, NotifyLevel, Role, RoomSummary
from confab.core.errors import InvalidInput
from confab.core.ids import is_content_id
from confab.core.roomlog import iso, message_json

__all__ = ["NotifyLevel", "Role", "iso", "message_json"]  # re-exported for callers

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
MAX_TITLE = 64
MAX_EMOJI = 32
MAX_INT = 2**63 - 1
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


def check_title(title: str) -> str:
    """A room's display name: up to 64 characters."""
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"a title has at most {MAX_TITLE} characters", code="title_too_long")
    _storable(title, "the title", "invalid_title")
    return title


def check_emoji(emoji: str) -> str:
    """A reaction: 1-32 characters, no whitespace or control characters."""
    if not 1 <= len(emoji) <= MAX_EMOJI or any(
        ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in emoji
    ):
        raise InvalidInput(
            "a reaction is 1-32 characters without spaces or control characters",
            code="invalid_emoji",
        )
    return emoji


def check_seq(seq: int) -> int:
    """A seq (read marker): 0 to 2**63-1."""
    if not 0 <= seq <= MAX_INT:
        raise InvalidInput("a seq is a non-negative 64-bit integer", code="invalid_seq")
    return seq


_LEVELS: dict[str, NotifyLevel] = {"all": "all", "mentions": "mentions", "mute": "mute"}
_ROLES: dict[str, Role] = {"owner": "owner", "moderator": "moderator", "member": "member"}


def check_notify(level: str) -> NotifyLevel:
    """A notification level: all, mentions or mute."""
    found = _LEVELS.get(level)
    if found is not None:
        return found
    raise InvalidInput("a notification level is all, mentions or mute", code="invalid_notify")


def check_role(role: str) -> Role:
    """A role: owner, moderator or member."""
    found = _ROLES.get(role)
    if found is not None:
        return found
    raise InvalidInput("a role is owner, moderator or member", code="invalid_role")


# permissions


def is_moderator(role: Role | None) -> bool:
    """Moderators and the owner set topic and title, invite, kick, ban and unban."""
    return role == "moderator" or role == "owner"


def can_remove(actor: str, actor_role: Role | None, target: str, target_role: Role | None) -> bool:
    """Anyone but the owner may leave; moderators kick members; the owner kicks anyone."""
    if actor == target:
        return target_role != "owner"
    if actor_role == "owner":
        return True
    return actor_role == "moderator" and target_role in ("member", None)


def can_ban(actor: str, actor_role: Role | None, target: str, target_role: Role | None) -> bool:
    """Moderators ban members and non-members; the owner bans anyone but themself."""
    if actor == target or target_role == "owner":
        return False
    if actor_role == "owner":
        return True
    return actor_role == "moderator" and target_role in ("member", None)


def can_edit(username: str, message: Message) -> bool:
    """Only the author edits, and only a message not deleted."""
    return message.author == username and not message.deleted


def can_delete(username: str, message: Message, role: Role | None) -> bool:
    """The author, a moderator or the owner deletes."""
    return message.author == username or is_moderator(role)


# JSON shapes (API and WebSocket)


def room_json(view: RoomSummary) -> dict[str, Any]:
    """The Room object of the API (and of `room_added`): a room as one user sees it, the
    store's listing record itself (no copy per room on the room list)."""
    room = view.room
    return {
        "name": room.name,
        "title": room.title,
        "topic": room.topic,
        "private": room.private,
        "kind": room.kind,
        "owner": room.owner,
        "last_seq": room.last_seq,
        "member": view.member,
        "members": view.members,
        "role": view.role,
        "read_seq": view.read_seq,
        "unread": view.unread,
        "mentions": view.mentions,
        "notify": view.notify,
        "participants": None if view.participants is None else list(view.participants),
    }
