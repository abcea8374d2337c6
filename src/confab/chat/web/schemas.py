"""Request and response bodies of the chat HTTP API (pydantic; also the OpenAPI schemas).

Request models check shapes and types only (strictly: no "1" for 1). Lengths and patterns
are the domain's to check, so HTTP and WebSocket refuse the same input with the same
reason; they are documented here through `json_schema_extra`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from confab.chat.domain import STORABLE_PATTERN, TEXT_PATTERN


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Credentials(_Body):
    """A username and password: registration and sign-in."""

    username: str = Field(
        json_schema_extra={"pattern": "^[A-Za-z0-9_.-]{3,32}$"},
        description="3-32 of a-z 0-9 _ . - (case-insensitive, stored lowercase)",
    )
    password: str = Field(
        json_schema_extra={"minLength": 8, "maxLength": 1024, "pattern": STORABLE_PATTERN}
    )


class PasswordChange(_Body):
    """The current password, and the new one."""

    current: str = Field(json_schema_extra={"minLength": 1, "maxLength": 1024})
    new: str = Field(
        json_schema_extra={"minLength": 8, "maxLength": 1024, "pattern": STORABLE_PATTERN}
    )


class PasswordCheck(_Body):
    """The current password, to confirm an irreversible change."""

    password: str = Field(json_schema_extra={"minLength": 1, "maxLength": 1024})


class NewRoom(_Body):
    """A room to create; the caller owns it."""

    name: str = Field(
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]{1,64}$"},
        description="1-64 of a-z 0-9 _ - (stored lowercase)",
    )
    topic: str = Field(
        default="", json_schema_extra={"maxLength": 256, "pattern": STORABLE_PATTERN}
    )
    private: bool = Field(default=False, description="invite-only")
    title: str = Field(default="", json_schema_extra={"maxLength": 64}, description="display name")


class RoomPatch(_Body):
    """New topic and/or title (moderators and the owner)."""

    topic: str | None = Field(default=None, json_schema_extra={"maxLength": 256})
    title: str | None = Field(default=None, json_schema_extra={"maxLength": 64})


class NewDm(_Body):
    """The people of a direct conversation besides the caller (1 to 8)."""

    users: list[str] = Field(json_schema_extra={"minItems": 1, "maxItems": 8})


class RoleChange(_Body):
    """A member's new role; "owner" hands ownership over (the owner only)."""

    role: str = Field(json_schema_extra={"enum": ["member", "moderator", "owner"]})


class ReadMarker(_Body):
    """Read up to this seq."""

    seq: int = Field(json_schema_extra={"minimum": 0})


class NotifyChange(_Body):
    """The caller's notification level in the room."""

    level: str = Field(json_schema_extra={"enum": ["all", "mentions", "mute"]})


class MemberChange(_Body):
    """Empty to join a public room; with `username`, a moderator invites that user."""

    username: str | None = None


class Ban(_Body):
    """The user a moderator or the owner bans from the room."""

    username: str


class NewMessage(_Body):
    """A message to post. Reusing a `client_id` returns the first message, never a copy."""

    text: str = Field(
        json_schema_extra={"minLength": 1, "maxLength": 4000, "pattern": TEXT_PATTERN},
        description="some visible text: not only blanks or control characters; no NUL",
    )
    client_id: str | None = Field(
        default=None,
        json_schema_extra={"pattern": "^[!-~]{1,64}$"},
        description="idempotency key chosen by the client (unique per author)",
    )
    attachments: list[str] = Field(
        default_factory=list,
        json_schema_extra={
            "maxItems": 10,
            "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
        description="upload ids from POST /media/uploads",
    )
    reply_to: int | None = Field(default=None, description="id of the message replied to")


class MessageEdit(_Body):
    """The new text of a message."""

    text: str = Field(
        json_schema_extra={"minLength": 1, "maxLength": 4000, "pattern": TEXT_PATTERN},
        description="some visible text: not only blanks or control characters; no NUL",
    )


# Responses (documentation only: handlers build these shapes with confab.chat.domain).


class Account(BaseModel):
    """A created account."""

    username: str


class TokenOut(BaseModel):
    """A session token: send it as `Authorization: Bearer <token>`."""

    token: str
    expires_at: str = Field(description="ISO-8601 UTC")


Role = Literal["owner", "moderator", "member"]
Notify = Literal["all", "mentions", "mute"]


class Room(BaseModel):
    """A room (or DM) as the caller sees it."""

    name: str
    title: str = Field(description='display name ("": show the name)')
    topic: str
    private: bool
    kind: Literal["room", "dm"]
    owner: str
    last_seq: int = Field(description="seq of the newest event, 0 when empty")
    member: bool = Field(description="whether the caller is a member")
    members: int = Field(description="member count")
    role: Role | None = Field(description="the caller's role (null: not a member)")
    read_seq: int = Field(description="the caller's read marker")
    unread: int = Field(description="messages by others past the marker (capped at 1000)")
    mentions: int = Field(description="mentions of the caller past the marker")
    notify: Notify = Field(description="the caller's notification level")
    participants: list[str] | None = Field(description="a DM's usernames (null for rooms)")


class RoomList(BaseModel):
    """The caller's rooms and DMs, and every public room, by name."""

    rooms: list[Room]


class Member(BaseModel):
    """A member and their role."""

    user: str
    role: Role


class Members(BaseModel):
    """A room's members."""

    members: list[Member]


class Bans(BaseModel):
    """Usernames banned from a room."""

    bans: list[str]


class ReadOut(BaseModel):
    """The caller's read marker after the change."""

    read_seq: int


class Attachment(BaseModel):
    """An attached image: its size and signed media URLs."""

    id: str = Field(description="upload id")
    width: int
    height: int
    thumbnail_url: str
    full_url: str


class Preview(BaseModel):
    """A link preview."""

    url: str
    title: str | None = None
    description: str | None = None
    image: str | None = None


class Reaction(BaseModel):
    """One emoji on a message: how many and who (the first 50)."""

    emoji: str
    count: int
    users: list[str]


class Message(BaseModel):
    """A message, its edits, reactions and replies folded in; a deleted one keeps id and
    seq, with empty text."""

    id: int
    room: str
    seq: int = Field(description="per room: previous + 1, no gaps")
    author: str
    text: str
    created_at: str = Field(description="ISO-8601 UTC")
    edited_at: str | None = None
    deleted: bool = False
    attachments: list[Attachment]
    previews: list[Preview]
    client_id: str | None = None
    reply_to: int | None = Field(description="id of the message replied to")
    thread_root: int | None = Field(description="id of the thread's first message")
    reply_count: int = Field(description="replies in this message's thread")
    last_reply_at: str | None = Field(description="ISO-8601 UTC of the latest reply")
    reactions: list[Reaction]
    mentions: list[str] = Field(description="members mentioned")
    mentions_room: bool = Field(description="an @room by a moderator or the owner")


class MessagePage(BaseModel):
    """A page of history in seq order."""

    messages: list[Message]
    has_more: bool = Field(description="more messages lie beyond the page")


class Thread(BaseModel):
    """A thread: its root and replies in seq order."""

    root: Message
    replies: list[Message]
    has_more: bool


class Error(BaseModel):
    """Every error: a stable reason code and a human detail."""

    error: str
    detail: str
