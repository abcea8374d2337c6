"""The chat storage port: plain records and the `ChatStore` Protocol.

Adapters (`confab.adapters.sql`) implement it; chat services call it. It lives in core
because adapters may not import `confab.chat`. Records are plain frozen dataclasses: no ORM
object ever crosses the port. Every datetime is timezone-aware UTC.

Failures are `confab.core.errors`: `Conflict` (a unique name taken), `Unavailable`
(the database is down or busy), `NotFound` (a row vanished under an update).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class UserRecord:
    """An account. `username` is stored lowercase."""

    id: int
    username: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A session token, known by its hash; `username` is its holder's."""

    token_hash: str
    user_id: int
    username: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A room. `last_seq` is the seq of its newest message (0 when empty)."""

    id: int
    name: str
    topic: str
    private: bool
    owner_id: int
    owner: str
    last_seq: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """A room seen by one user: whether they are a member, whether they are banned."""

    room: RoomRecord
    member: bool
    banned: bool


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """A room in a listing: the caller's membership and the member count."""

    room: RoomRecord
    member: bool
    members: int


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A stored message. A deleted one keeps its id and seq; its text is ""."""

    id: int
    room: str
    seq: int
    author: str
    text: str
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    attachments: tuple[dict[str, Any], ...]  # {id, width, height, thumbnail_url, full_url}
    previews: tuple[dict[str, Any], ...]
    client_id: str | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What `ChatStore.append_message` needs; names are echoed into the record."""

    room_id: int
    room: str
    author_id: int
    author: str
    text: str
    client_id: str | None
    attachments: tuple[dict[str, Any], ...]  # {id, width, height, thumbnail_url, full_url}
    created_at: datetime


@runtime_checkable
class ChatStore(Protocol):
    """Durable chat state: accounts, tokens, rooms, membership, bans, messages."""

    # accounts and tokens

    async def create_user(self, username: str, password_hash: str, now: datetime) -> UserRecord:
        """Insert an account; `Conflict("username_taken")` if the name exists."""

    async def get_user(self, username: str) -> UserRecord | None:
        """The account named `username` (already lowercase), or None."""

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a password hash (rehash after a parameter change)."""

    async def create_token(
        self, token_hash: str, user_id: int, now: datetime, expires_at: datetime
    ) -> None:
        """Store a session token by its hash."""

    async def user_for_token(self, token_hash: str, now: datetime) -> UserRecord | None:
        """The account holding an unexpired token with this hash, or None."""

    async def delete_token(self, token_hash: str) -> None:
        """Forget a token; an unknown one is not an error."""

    async def delete_expired_tokens(self, user_id: int, now: datetime) -> int:
        """Forget a user's expired tokens; return how many."""

    async def get_token(self, token_hash: str, now: datetime) -> TokenRecord | None:
        """The unexpired token with this hash, or None."""

    async def list_tokens(self, user_id: int, now: datetime) -> list[TokenRecord]:
        """A user's unexpired tokens, oldest first."""

    async def delete_user_tokens(self, user_id: int) -> list[str]:
        """Forget every token of a user; return their hashes."""

    # rooms and membership

    async def create_room(
        self, name: str, topic: str, private: bool, owner_id: int, now: datetime
    ) -> RoomRecord:
        """Insert a room with its owner as first member; `Conflict("room_taken")` if named."""

    async def get_room(self, name: str) -> RoomRecord | None:
        """The room named `name` (already lowercase), or None."""

    async def room_access(self, name: str, user_id: int) -> RoomAccess | None:
        """The room named `name` as `user_id` sees it, or None if there is no such room."""

    async def list_rooms(self, user_id: int) -> list[RoomSummary]:
        """Rooms `user_id` belongs to, and every public room, by name."""

    async def add_member(self, room_id: int, user_id: int, now: datetime) -> bool:
        """Make `user_id` a member; False if they already were."""

    async def remove_member(self, room_id: int, user_id: int) -> bool:
        """Remove a member; False if they were not one."""

    async def ban(self, room_id: int, user_id: int, now: datetime) -> bool:
        """Ban and remove `user_id` in one transaction; True if they were a member."""

    async def member_names(self, room_id: int) -> list[str]:
        """Usernames of the members, sorted."""

    async def member_count(self, room_id: int) -> int:
        """How many members the room has."""

    # messages

    async def append_message(self, new: NewMessage) -> tuple[MessageRecord, bool]:
        """Store a message with the room's next seq, in one transaction.

        Seqs are gap-free per room, also with many writers. If the author already sent
        `client_id`, nothing is written and the first message comes back with False.
        """

    async def get_message(self, room_id: int, message_id: int) -> MessageRecord | None:
        """The message `message_id` of room `room_id`, or None."""

    async def messages_before(
        self, room_id: int, before: int | None, limit: int
    ) -> list[MessageRecord]:
        """The newest `limit` messages with seq < `before` (or the newest), in seq order."""

    async def messages_after(self, room_id: int, after: int, limit: int) -> list[MessageRecord]:
        """The oldest `limit` messages with seq > `after`, in seq order."""

    async def edit_message(self, message_id: int, text: str, now: datetime) -> MessageRecord:
        """Replace a message's text and set `edited_at`."""

    async def delete_message(self, message_id: int, now: datetime) -> MessageRecord:
        """Blank a message (text "", no attachments or previews) and mark it deleted."""

    async def set_previews(
        self, message_id: int, previews: Sequence[dict[str, Any]]
    ) -> MessageRecord | None:
        """Store link previews on a message; None if it is gone or deleted."""

    async def close(self) -> None:
        """Release the connections."""
