"""The chat storage port: plain records and the `ChatStore` Protocol.

Adapters (`confab.adapters.sql`) implement it; chat services call it. It lives in core
because adapters may not import `confab.chat`. Records are immutable values: frozen
dataclasses, or NamedTuples for the two the room list builds by the hundred per call
(`RoomRecord`, `RoomSummary`): a frozen dataclass sets each field through
`object.__setattr__` (~0.15 us a field, 2.5 ms of a 600-room list), a tuple in one step.
No ORM object ever crosses the port. Every datetime is timezone-aware UTC.

Failures are `confab.core.errors`: `Conflict` (a unique name taken), `Unavailable`
(the database is down or busy), `NotFound` (a row vanished under an update).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from confab.core.roomlog import RoomEvent

Role = Literal["owner", "moderator", "member"]
NotifyLevel = Literal["all", "mentions", "mute"]
LeaveReason = Literal["left", "kicked"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    """An account. `username` is stored lowercase."""

    id: int
    username: str
    password_hash: str
    created_at: datetime


RoomKind = Literal["room", "dm"]


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A session token, known by its hash; `username` is its holder's."""

    token_hash: str
    user_id: int
    username: str
    created_at: datetime
    expires_at: datetime


class RoomRecord(NamedTuple):
    """A room. `last_seq` is the seq of its newest event (0 when none).

    `name` is the room's identity in URLs and on the bus and never changes; `title` is its
    display name ("" shows the name). A direct-message conversation (`kind` "dm") is a
    private room whose name is derived from its participants (`dm_name`).
    """

    id: int
    name: str
    topic: str
    private: bool
    owner_id: int
    owner: str
    last_seq: int
    kind: RoomKind = "room"
    title: str = ""


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """A room seen by one user, read in one transaction with `room.last_seq`.

    `role` is None for a non-member. `read_seq` and `notify` are the member's own (0 and
    "all" for a non-member).
    """

    room: RoomRecord
    member: bool
    banned: bool
    role: Role | None = None
    read_seq: int = 0
    notify: NotifyLevel = "all"


class RoomSummary(NamedTuple):
    """A room in a listing, as the caller sees it.

    `unread`: messages by others, not deleted, with seq > read_seq (counted up to
    `UNREAD_CAP`, then it stays there). `mentions`: mentions of the caller with seq >
    read_seq. Both 0 for a non-member. `participants`: a DM's usernames, sorted (None for
    a room).
    """

    room: RoomRecord
    member: bool
    members: int
    role: Role | None = None
    read_seq: int = 0
    unread: int = 0
    mentions: int = 0
    notify: NotifyLevel = "all"
    participants: tuple[str, ...] | None = None


UNREAD_CAP = 1000


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member of a room and their role."""

    username: str
    role: Role


@dataclass(frozen=True, slots=True)
class ReactionSummary:
    """One emoji on a message: how many reacted and who (first `REACTION_USERS` names)."""

    emoji: str
    count: int
    users: tuple[str, ...]


REACTION_USERS = 50


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A stored message with its current state folded in (edits, reactions, replies).

    A deleted one keeps its id and seq; its text is "" and it has no attachments,
    previews or reactions. `thread_root` is the first message of the thread it replies
    in (None if it replies to nothing); `reply_count`/`last_reply_at` are set on roots.
    """

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
    reply_to: int | None = None
    thread_root: int | None = None
    reply_count: int = 0
    last_reply_at: datetime | None = None
    reactions: tuple[ReactionSummary, ...] = ()
    mentions: tuple[str, ...] = ()  # usernames mentioned (members only), sorted
    mentions_room: bool = False  # an @room by a moderator or the owner


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What `ChatStore.append_message` needs; names are echoed into the record.

    `mentions` are usernames (already parsed and lowercased); the store records a mention
    for each one that is a member, and for every member but the author when
    `mentions_room`. `reply_to` must name a message of the same room.
    """

    room_id: int
    room: str
    author_id: int
    author: str
    text: str
    client_id: str | None
    attachments: tuple[dict[str, Any], ...]  # {id, width, height, thumbnail_url, full_url}
    created_at: datetime
    reply_to: int | None = None
    mentions: tuple[str, ...] = ()
    mentions_room: bool = False


def dm_name(user_ids: Iterable[int]) -> str:
    """The room name of the direct conversation of exactly these users (order-free).

    `dm-` and 24 hex characters of a hash of the sorted ids: the same set of people
    always names the same conversation, and the name reveals nobody.
    """
    key = ",".join(str(i) for i in sorted(set(user_ids)))
    return "dm-" + hashlib.sha256(key.encode()).hexdigest()[:24]


MAX_DM_USERS = 9


@runtime_checkable
class ChatStore(Protocol):
    """Durable chat state: accounts, tokens, rooms, membership, the room event log.

    Every method that changes a room runs in one transaction that also bumps the room's
    `last_seq` and stores the event (`confab.core.roomlog`) with that seq, so seqs are
    gap-free and totally ordered per room across processes. It returns the event(s) it
    stored, for the caller to publish after commit, or None when nothing changed (an
    idempotent repeat: the same reaction twice, a member added again, a marker not
    moving forward). Rooms are named by their id here; callers resolved names already.
    """

    # accounts and tokens

    async def create_user(self, username: str, password_hash: str, now: datetime) -> UserRecord:
        """Insert an account; `Conflict("username_taken")` if the name exists."""

    async def get_user(self, username: str) -> UserRecord | None:
        """The account named `username` (already lowercase), or None."""

    async def users_named(self, usernames: Sequence[str]) -> dict[str, int]:
        """The ids of the accounts among `usernames` (lowercase), by name; unknown left out."""

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

    # rooms

    async def create_room(
        self, name: str, topic: str, private: bool, owner_id: int, now: datetime
    ) -> RoomRecord:
        """Insert a room (kind "room", seq 0) with its owner as first member (no event);
        `Conflict("room_taken")` if the name exists."""

    async def open_dm(
        self, user_ids: Sequence[int], creator_id: int, now: datetime
    ) -> tuple[RoomRecord, list[RoomEvent]]:
        """The direct conversation of exactly `user_ids` (2 to `MAX_DM_USERS`, creator
        included), created if new: a private room of kind "dm" named `dm_name(user_ids)`,
        owned by the creator, with a `member_joined` event per participant (the events
        are [] when it already existed). Two callers racing get the same room."""

    async def get_room(self, name: str) -> RoomRecord | None:
        """The room named `name` (already lowercase), or None."""

    async def room_access(self, name: str, user_id: int) -> RoomAccess | None:
        """The room named `name` as `user_id` sees it, or None if there is no such room.

        Membership and `room.last_seq` come from one snapshot: a removal with a higher
        seq is not reflected, one with a lower seq is.
        """

    async def list_rooms(self, user_id: int) -> list[RoomSummary]:
        """Rooms and DMs `user_id` belongs to, and every public room ("room" kind, not
        private), by name; unread and mention counts for the member ones, and each DM's
        participants."""

    async def set_topic(
        self, room_id: int, topic: str, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Change the topic; `topic_changed`, or None if it was already that."""

    async def set_title(
        self, room_id: int, title: str, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Change the display name; `title_changed`, or None if it was already that."""

    async def delete_room(self, room_id: int) -> bool:
        """Delete the room with its log, members and messages; False if it was gone."""

    # membership and roles

    async def add_member(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Make `user_id` a member (role "member"): `member_joined`, None if already one."""

    async def remove_member(
        self, room_id: int, user_id: int, actor_id: int, reason: LeaveReason, now: datetime
    ) -> RoomEvent | None:
        """Remove a member: `member_left`, None if they were not one."""

    async def ban(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Ban (and remove, if a member) `user_id`: `member_banned`, None if already banned."""

    async def unban(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Lift a ban: `member_unbanned`, None if there was none."""

    async def set_role(
        self, room_id: int, user_id: int, role: Role, actor_id: int, now: datetime
    ) -> list[RoomEvent]:
        """Give a member `role`: `role_changed` ([] if they had it). Making someone
        "owner" transfers ownership: the room's owner_id changes and the previous owner
        becomes a moderator, two events in one transaction. `NotFound("not_a_member")` if
        `user_id` is not a member."""

    async def members(self, room_id: int) -> list[MemberRecord]:
        """The members and their roles, by username."""

    async def member_count(self, room_id: int) -> int:
        """How many members the room has."""

    async def banned_names(self, room_id: int) -> list[str]:
        """Usernames of the banned, sorted."""

    async def set_notify(self, room_id: int, user_id: int, level: NotifyLevel) -> bool:
        """A member's notification level (a private setting: no event); False if not one."""

    async def mark_read(
        self, room_id: int, user_id: int, read_seq: int, now: datetime
    ) -> RoomEvent | None:
        """Move a member's read marker forward to `read_seq` (clamped to the room's
        last_seq): `read`, or None if it would not move forward or they are no member."""

    # messages

    async def append_message(self, new: NewMessage) -> tuple[MessageRecord, RoomEvent | None]:
        """Store a message with the room's next seq, and its `message` event.

        If the author already sent `client_id`, nothing is written and the first message
        comes back with None. A reply updates its thread root's reply_count and
        last_reply_at in the same transaction; `NotFound("reply_not_found")` if
        `reply_to` is not a message of this room. `Forbidden("not_a_member")` if the
        author is not a member when the write takes the room's seq (checked in the same
        transaction, so a write racing a kick or ban cannot slip in after it).
        """

    async def get_message(self, room_id: int, message_id: int) -> MessageRecord | None:
        """The message `message_id` of room `room_id` (state folded in), or None."""

    async def messages_before(
        self, room_id: int, before: int | None, limit: int
    ) -> list[MessageRecord]:
        """The newest `limit` messages with seq < `before` (or the newest), in seq order."""

    async def messages_after(self, room_id: int, after: int, limit: int) -> list[MessageRecord]:
        """The oldest `limit` messages with seq > `after`, in seq order."""

    async def thread(self, room_id: int, root_id: int, limit: int) -> list[MessageRecord]:
        """The root message and the first `limit` replies in its thread, in seq order
        ([] if the root is not a message of this room)."""

    async def edit_message(
        self, room_id: int, message_id: int, text: str, actor_id: int, now: datetime
    ) -> tuple[MessageRecord, RoomEvent | None]:
        """Replace a live message's text and set edited_at: `message_edited` (None when
        the text is unchanged). `NotFound("message_not_found")` if it is gone or deleted."""

    async def delete_message(
        self, room_id: int, message_id: int, actor_id: int, now: datetime
    ) -> tuple[MessageRecord, RoomEvent | None]:
        """Blank a message (text "", no attachments, previews or reactions), mark it
        deleted and redact the earlier events that carried its content (their payloads
        become the blanked state): `message_deleted`, None if it was deleted already."""

    async def set_previews(
        self, room_id: int, message_id: int, previews: Sequence[dict[str, Any]]
    ) -> tuple[MessageRecord, RoomEvent | None] | None:
        """Store link previews on a live message: `previews_set` (None if unchanged);
        None overall if the message is gone or deleted."""

    async def add_reaction(
        self, room_id: int, message_id: int, user_id: int, emoji: str, now: datetime
    ) -> RoomEvent | None:
        """`reaction_added`, None if `user_id` had this reaction already.
        `NotFound("message_not_found")` if the message is gone or deleted;
        `Forbidden("not_a_member")` if `user_id` is not a member (checked atomically)."""

    async def remove_reaction(
        self, room_id: int, message_id: int, user_id: int, emoji: str, now: datetime
    ) -> RoomEvent | None:
        """`reaction_removed`, None if `user_id` had no such reaction;
        `Forbidden("not_a_member")` if `user_id` is not a member (checked atomically)."""

    # the log

    async def events_after(self, room_id: int, after: int, limit: int) -> list[RoomEvent]:
        """The oldest `limit` events with seq > `after`, in seq order (for `resume` and
        gap repair): exactly the frames that were published, redactions applied."""

    async def close(self) -> None:
        """Release the connections."""
