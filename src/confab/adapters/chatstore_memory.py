"""`ChatStore` in process memory: the same contract as the SQL store, no file, no migration.

Service tests run on it (fast, isolated); it passes the contract suite that SQLite and
PostgreSQL pass. Nothing is durable. Each method runs without awaiting, so on one event
loop every change is atomic like a transaction: seqs stay gap-free per room.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from confab.adapters.chatlog import CARRIES_CONTENT, dm_participants, mentioned_ids, redacted
from confab.core import roomlog
from confab.core.chatstore import (
    REACTION_USERS,
    UNREAD_CAP,
    LeaveReason,
    MemberRecord,
    MessageRecord,
    NewMessage,
    NotifyLevel,
    ReactionSummary,
    Role,
    RoomAccess,
    RoomKind,
    RoomRecord,
    RoomSummary,
    TokenRecord,
    UserRecord,
    dm_name,
)
from confab.core.errors import Conflict, Forbidden, NotFound
from confab.core.roomlog import RoomEvent


@dataclass
class _Member:
    role: Role
    read_seq: int = 0
    notify: NotifyLevel = "all"


def _check_member(room: _Room, user_id: int) -> None:
    """Writes in a room are its members' only (the callers may act on a cached join)."""
    if user_id not in room.members:
        raise Forbidden("you are not a member of this room", code="not_a_member")


@dataclass
class _Room:
    record: RoomRecord
    members: dict[int, _Member] = field(default_factory=dict)
    banned: set[int] = field(default_factory=set)
    events: list[RoomEvent] = field(default_factory=list)  # events[i].seq == i + 1
    message_seqs: list[int] = field(default_factory=list)  # sorted
    messages: dict[int, int] = field(default_factory=dict)  # seq -> message id
    mentions: dict[int, list[int]] = field(default_factory=dict)  # user id -> sorted seqs


@dataclass
class _Message:
    record: MessageRecord  # text/edits/previews/replies; reactions are folded on read
    room_id: int
    author_id: int
    reactions: dict[str, dict[int, int]] = field(default_factory=dict)  # emoji -> user -> seq
    mention_ids: set[int] = field(default_factory=set)
    content_seqs: list[int] = field(default_factory=list)  # events carrying its content


class MemoryChatStore:
    """Every record in dicts; ids count from 1 like the database's."""

    def __init__(self) -> None:
        self._users: dict[int, UserRecord] = {}
        self._user_ids: dict[str, int] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._rooms: dict[int, _Room] = {}
        self._room_ids: dict[str, int] = {}
        self._messages: dict[int, _Message] = {}
        self._client_ids: dict[tuple[int, str], int] = {}
        self._next_id = {"user": 0, "room": 0, "message": 0}

    def _new_id(self, kind: str) -> int:
        self._next_id[kind] += 1
        return self._next_id[kind]

    def _name(self, user_id: int) -> str:
        """The username of `user_id`; an unknown id fails like the SQL foreign key."""
        user = self._users.get(user_id)
        if user is None:
            raise Conflict("the change conflicts with stored data", code="constraint")
        return user.username

    def _room(self, room_id: int) -> _Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise NotFound(f"no room {room_id}", code="room_not_found")
        return room

    def _append(self, room: _Room, build: Any) -> RoomEvent:
        """Take the room's next seq and store the event `build(seq)` made with it."""
        seq = room.record.last_seq + 1
        event: RoomEvent = build(seq)
        room.record = room.record._replace(last_seq=seq)
        room.events.append(event)
        return event

    # accounts and tokens

    async def create_user(self, username: str, password_hash: str, now: datetime) -> UserRecord:
        """Insert an account; `Conflict("username_taken")` if the name exists."""
        if username in self._user_ids:
            raise Conflict(f"username {username!r} is taken", code="username_taken")
        user = UserRecord(self._new_id("user"), username, password_hash, now)
        self._users[user.id] = user
        self._user_ids[username] = user.id
        return user

    async def get_user(self, username: str) -> UserRecord | None:
        """The account named `username`, or None."""
        user_id = self._user_ids.get(username)
        return None if user_id is None else self._users[user_id]

    async def users_named(self, usernames: Sequence[str]) -> dict[str, int]:
        """The ids of the known accounts among `usernames`, by name."""
        return {n: self._user_ids[n] for n in usernames if n in self._user_ids}

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace a password hash."""
        if user_id in self._users:
            self._users[user_id] = replace(self._users[user_id], password_hash=password_hash)

    async def create_token(
        self, token_hash: str, user_id: int, now: datetime, expires_at: datetime
    ) -> None:
        """Store a session token by its hash."""
        if token_hash in self._tokens:
            raise Conflict("already exists", code="duplicate")
        user = self._users.get(user_id)
        if user is None:
            raise Conflict("no such user", code="constraint")
        self._tokens[token_hash] = TokenRecord(token_hash, user_id, user.username, now, expires_at)

    async def user_for_token(self, token_hash: str, now: datetime) -> UserRecord | None:
        """The account holding an unexpired token with this hash, or None."""
        held = await self.get_token(token_hash, now)
        return None if held is None else self._users.get(held.user_id)

    async def get_token(self, token_hash: str, now: datetime) -> TokenRecord | None:
        """The unexpired token with this hash, or None."""
        held = self._tokens.get(token_hash)
        return held if held is not None and held.expires_at > now else None

    async def list_tokens(self, user_id: int, now: datetime) -> list[TokenRecord]:
        """A user's unexpired tokens, oldest first."""
        held = [t for t in self._tokens.values() if t.user_id == user_id and t.expires_at > now]
        return sorted(held, key=lambda t: (t.created_at, t.token_hash))

    async def delete_user_tokens(self, user_id: int) -> list[str]:
        """Forget every token of a user; return their hashes."""
        hashes = [h for h, t in self._tokens.items() if t.user_id == user_id]
        for token_hash in hashes:
            del self._tokens[token_hash]
        return hashes

    async def delete_token(self, token_hash: str) -> None:
        """Forget a token."""
        self._tokens.pop(token_hash, None)

    async def delete_expired_tokens(self, user_id: int, now: datetime) -> int:
        """Forget a user's expired tokens; return how many."""
        expired = [
            h for h, t in self._tokens.items() if t.user_id == user_id and t.expires_at <= now
        ]
        for token_hash in expired:
            del self._tokens[token_hash]
        return len(expired)

    # rooms

    def _insert_room(
        self, name: str, topic: str, private: bool, owner_id: int, kind: RoomKind
    ) -> _Room:
        if name in self._room_ids:
            raise Conflict(f"room {name!r} exists", code="room_taken")
        record = RoomRecord(
            id=self._new_id("room"),
            name=name,
            topic=topic,
            private=private,
            owner_id=owner_id,
            owner=self._name(owner_id),
            last_seq=0,
            kind=kind,
        )
        room = _Room(record)
        self._rooms[record.id] = room
        self._room_ids[name] = record.id
        return room

    async def create_room(
        self, name: str, topic: str, private: bool, owner_id: int, now: datetime
    ) -> RoomRecord:
        """Insert a room with its owner as first member (no event)."""
        room = self._insert_room(name, topic, private, owner_id, "room")
        room.members[owner_id] = _Member("owner")
        return room.record

    async def open_dm(
        self, user_ids: Sequence[int], creator_id: int, now: datetime
    ) -> tuple[RoomRecord, list[RoomEvent]]:
        """The DM of exactly `user_ids` (creator included), created if new."""
        people = dm_participants(user_ids, creator_id)
        for user_id in people:
            if user_id not in self._users:
                raise NotFound(f"no user {user_id}", code="user_not_found")
        existing = self._room_ids.get(dm_name(people))
        if existing is not None:
            if self._rooms[existing].record.kind != "dm":
                raise Conflict(f"room {dm_name(people)!r} exists", code="room_taken")
            return self._rooms[existing].record, []
        room = self._insert_room(dm_name(people), "", True, creator_id, "dm")
        creator = self._name(creator_id)
        events = []
        for user_id in people:
            role: Role = "owner" if user_id == creator_id else "member"
            room.members[user_id] = _Member(role)
            name = self._name(user_id)
            events.append(
                self._append(
                    room,
                    lambda seq, n=name, r=role: roomlog.member_joined(
                        room.record.name, seq, n, creator, r
                    ),
                )
            )
        return room.record, events

    async def get_room(self, name: str) -> RoomRecord | None:
        """The room named `name`, or None."""
        room_id = self._room_ids.get(name)
        return None if room_id is None else self._rooms[room_id].record

    async def room_access(self, name: str, user_id: int) -> RoomAccess | None:
        """The room named `name` as `user_id` sees it, or None."""
        room_id = self._room_ids.get(name)
        if room_id is None:
            return None
        room = self._rooms[room_id]
        member = room.members.get(user_id)
        if member is None:
            return RoomAccess(room.record, member=False, banned=user_id in room.banned)
        return RoomAccess(
            room.record,
            member=True,
            banned=user_id in room.banned,
            role=member.role,
            read_seq=member.read_seq,
            notify=member.notify,
        )

    def _unread(self, room: _Room, user_id: int, read_seq: int) -> int:
        count = 0
        start = bisect.bisect_right(room.message_seqs, read_seq)
        for seq in room.message_seqs[start:]:
            message = self._messages[room.messages[seq]]
            if message.author_id != user_id and not message.record.deleted:
                count += 1
                if count >= UNREAD_CAP:
                    break
        return count

    async def list_rooms(self, user_id: int) -> list[RoomSummary]:
        """Member rooms and DMs, and every public room, by name, with unread counts (and
        each DM's participants)."""
        summaries = []
        for name in sorted(self._room_ids):
            room = self._rooms[self._room_ids[name]]
            member = room.members.get(user_id)
            if member is None:
                record = room.record
                if record.kind == "room" and not record.private:
                    summaries.append(RoomSummary(record, member=False, members=len(room.members)))
                continue
            seqs = room.mentions.get(user_id, [])
            mentions = len(seqs) - bisect.bisect_right(seqs, member.read_seq)
            summaries.append(
                RoomSummary(
                    room.record,
                    member=True,
                    members=len(room.members),
                    role=member.role,
                    read_seq=member.read_seq,
                    unread=self._unread(room, user_id, member.read_seq),
                    mentions=mentions,
                    notify=member.notify,
                    participants=(
                        tuple(sorted(self._name(u) for u in room.members))
                        if room.record.kind == "dm"
                        else None
                    ),
                )
            )
        return summaries

    async def set_topic(
        self, room_id: int, topic: str, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Change the topic: `topic_changed`, None if unchanged."""
        room = self._room(room_id)
        actor = self._name(actor_id)
        if room.record.topic == topic:
            return None
        room.record = room.record._replace(topic=topic)
        return self._append(
            room, lambda seq: roomlog.topic_changed(room.record.name, seq, topic, actor)
        )

    async def set_title(
        self, room_id: int, title: str, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Change the display name: `title_changed`, None if unchanged."""
        room = self._room(room_id)
        actor = self._name(actor_id)
        if room.record.title == title:
            return None
        room.record = room.record._replace(title=title)
        return self._append(
            room, lambda seq: roomlog.title_changed(room.record.name, seq, title, actor)
        )

    async def delete_room(self, room_id: int) -> bool:
        """Delete the room with its log, members and messages."""
        room = self._rooms.pop(room_id, None)
        if room is None:
            return False
        del self._room_ids[room.record.name]
        for message_id in room.messages.values():
            message = self._messages.pop(message_id)
            if message.record.client_id is not None:
                self._client_ids.pop((message.author_id, message.record.client_id), None)
        return True

    # membership and roles

    async def add_member(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Make `user_id` a member: `member_joined`, None if already one."""
        room = self._room(room_id)
        user, actor = self._name(user_id), self._name(actor_id)
        if user_id in room.members:
            return None
        room.members[user_id] = _Member("member")
        return self._append(
            room, lambda seq: roomlog.member_joined(room.record.name, seq, user, actor, "member")
        )

    async def remove_member(
        self, room_id: int, user_id: int, actor_id: int, reason: LeaveReason, now: datetime
    ) -> RoomEvent | None:
        """Remove a member: `member_left`, None if they were not one."""
        room = self._room(room_id)
        user, actor = self._name(user_id), self._name(actor_id)
        if room.members.pop(user_id, None) is None:
            return None
        return self._append(
            room, lambda seq: roomlog.member_left(room.record.name, seq, user, actor, reason)
        )

    async def ban(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Ban and remove `user_id`: `member_banned`, None if already banned."""
        room = self._room(room_id)
        user, actor = self._name(user_id), self._name(actor_id)
        if user_id in room.banned:
            return None
        room.banned.add(user_id)
        room.members.pop(user_id, None)
        return self._append(
            room, lambda seq: roomlog.member_banned(room.record.name, seq, user, actor)
        )

    async def unban(
        self, room_id: int, user_id: int, actor_id: int, now: datetime
    ) -> RoomEvent | None:
        """Lift a ban: `member_unbanned`, None if there was none."""
        room = self._room(room_id)
        user, actor = self._name(user_id), self._name(actor_id)
        if user_id not in room.banned:
            return None
        room.banned.discard(user_id)
        return self._append(
            room, lambda seq: roomlog.member_unbanned(room.record.name, seq, user, actor)
        )

    async def set_role(
        self, room_id: int, user_id: int, role: Role, actor_id: int, now: datetime
    ) -> list[RoomEvent]:
        """Give a member `role`; "owner" transfers ownership (two events)."""
        room = self._room(room_id)
        member = room.members.get(user_id)
        if member is None:
            raise NotFound(f"user {user_id} is not a member", code="not_a_member")
        if member.role == role:
            return []
        actor = self._name(actor_id)
        changes: list[tuple[int, Role]] = [(user_id, role)]
        previous = room.record.owner_id
        if role == "owner" and previous != user_id:
            room.record = room.record._replace(owner_id=user_id, owner=self._name(user_id))
            if previous in room.members:
                changes.append((previous, "moderator"))
        events = []
        for changed, new_role in changes:
            room.members[changed].role = new_role
            name = self._name(changed)
            events.append(
                self._append(
                    room,
                    lambda seq, n=name, r=new_role: roomlog.role_changed(
                        room.record.name, seq, n, r, actor
                    ),
                )
            )
        return events

    async def members(self, room_id: int) -> list[MemberRecord]:
        """The members and their roles, by username."""
        room = self._room(room_id)
        found = [MemberRecord(self._name(u), m.role) for u, m in room.members.items()]
        return sorted(found, key=lambda m: m.username)

    async def member_count(self, room_id: int) -> int:
        """How many members the room has."""
        return len(self._room(room_id).members)

    async def banned_names(self, room_id: int) -> list[str]:
        """Usernames of the banned, sorted."""
        return sorted(self._name(u) for u in self._room(room_id).banned)

    async def set_notify(self, room_id: int, user_id: int, level: NotifyLevel) -> bool:
        """A member's notification level; False if not one."""
        member = self._room(room_id).members.get(user_id)
        if member is None:
            return False
        member.notify = level
        return True

    async def mark_read(
        self, room_id: int, user_id: int, read_seq: int, now: datetime
    ) -> RoomEvent | None:
        """Move a member's read marker forward (clamped to last_seq): `read`."""
        room = self._room(room_id)
        member = room.members.get(user_id)
        target = min(read_seq, room.record.last_seq)
        if member is None or target <= member.read_seq:
            return None
        member.read_seq = target
        user = self._name(user_id)
        return self._append(
            room, lambda seq: roomlog.read_marker(room.record.name, seq, user, target)
        )

    # messages

    def _folded(self, message: _Message) -> MessageRecord:
        if not message.reactions:
            return message.record
        summaries = []
        by_first = sorted(message.reactions.items(), key=lambda item: min(item[1].values()))
        for emoji, users in by_first:
            ordered = sorted(users, key=lambda u: users[u])
            names = tuple(self._name(u) for u in ordered[:REACTION_USERS])
            summaries.append(ReactionSummary(emoji, len(users), names))
        return replace(message.record, reactions=tuple(summaries))

    def _live(self, room_id: int, message_id: int) -> _Message:
        message = self._messages.get(message_id)
        if message is None or message.room_id != room_id or message.record.deleted:
            raise NotFound(f"no message {message_id}", code="message_not_found")
        return message

    async def append_message(self, new: NewMessage) -> tuple[MessageRecord, RoomEvent | None]:
        """Store a message and its `message` event; idempotent on (author, client_id)."""
        room = self._room(new.room_id)
        _check_member(room, new.author_id)  # before the repeat check, like the SQL store
        if new.client_id is not None:
            first = self._client_ids.get((new.author_id, new.client_id))
            if first is not None:
                return self._folded(self._messages[first]), None
        root: _Message | None = None
        if new.reply_to is not None:
            parent = self._messages.get(new.reply_to)
            if parent is None or parent.room_id != new.room_id:
                raise NotFound(f"no message {new.reply_to} here", code="reply_not_found")
            root_id = parent.record.thread_root or parent.record.id
            root = self._messages[root_id]
        members = {self._name(u): u for u in room.members}
        names, targets = mentioned_ids(new.mentions, new.mentions_room, members, new.author_id)
        record = MessageRecord(
            id=self._new_id("message"),
            room=new.room,
            seq=room.record.last_seq + 1,
            author=new.author,
            text=new.text,
            created_at=new.created_at,
            edited_at=None,
            deleted=False,
            attachments=new.attachments,
            previews=(),
            client_id=new.client_id,
            reply_to=new.reply_to,
            thread_root=None if root is None else root.record.id,
            mentions=names,
            mentions_room=new.mentions_room,
        )
        event = self._append(room, lambda seq: roomlog.message_posted(record))
        message = _Message(record, new.room_id, new.author_id, mention_ids=targets)
        message.content_seqs.append(record.seq)
        self._messages[record.id] = message
        room.message_seqs.append(record.seq)
        room.messages[record.seq] = record.id
        for user_id in targets:
            room.mentions.setdefault(user_id, []).append(record.seq)
        if new.client_id is not None:
            self._client_ids[(new.author_id, new.client_id)] = record.id
        if root is not None:
            root.record = replace(
                root.record,
                reply_count=root.record.reply_count + 1,
                last_reply_at=new.created_at,
            )
        return record, event

    async def get_message(self, room_id: int, message_id: int) -> MessageRecord | None:
        """The message `message_id` of room `room_id` (state folded in), or None."""
        message = self._messages.get(message_id)
        if message is None or message.room_id != room_id:
            return None
        return self._folded(message)

    def _by_seqs(self, room: _Room, seqs: Sequence[int]) -> list[MessageRecord]:
        return [self._folded(self._messages[room.messages[s]]) for s in seqs]

    async def messages_before(
        self, room_id: int, before: int | None, limit: int
    ) -> list[MessageRecord]:
        """The newest `limit` messages with seq < `before` (or the newest), in seq order."""
        room = self._room(room_id)
        end = len(room.message_seqs)
        if before is not None:
            end = bisect.bisect_left(room.message_seqs, before)
        return self._by_seqs(room, room.message_seqs[max(0, end - limit) : end])

    async def messages_after(self, room_id: int, after: int, limit: int) -> list[MessageRecord]:
        """The oldest `limit` messages with seq > `after`, in seq order."""
        room = self._room(room_id)
        start = bisect.bisect_right(room.message_seqs, after)
        return self._by_seqs(room, room.message_seqs[start : start + max(0, limit)])

    async def thread(self, room_id: int, root_id: int, limit: int) -> list[MessageRecord]:
        """The root and its first `limit` replies, in seq order."""
        root = self._messages.get(root_id)
        if root is None or root.room_id != room_id:
            return []
        replies = [
            m
            for m in self._messages.values()
            if m.room_id == room_id and m.record.thread_root == root_id
        ]
        replies.sort(key=lambda m: m.record.seq)
        return [self._folded(m) for m in [root, *replies[: max(0, limit)]]]

    async def edit_message(
        self, room_id: int, message_id: int, text: str, actor_id: int, now: datetime
    ) -> tuple[MessageRecord, RoomEvent | None]:
        """Replace a live message's text: `message_edited`, None when unchanged."""
        message = self._live(room_id, message_id)
        if message.record.text == text:
            return self._folded(message), None
        room = self._room(room_id)
        actor = self._name(actor_id)
        event = self._append(
            room,
            lambda seq: roomlog.message_edited(room.record.name, seq, message_id, text, now, actor),
        )
        message.record = replace(message.record, text=text, edited_at=now)
        message.content_seqs.append(event.seq)
        return self._folded(message), event

    async def delete_message(
        self, room_id: int, message_id: int, actor_id: int, now: datetime
    ) -> tuple[MessageRecord, RoomEvent | None]:
        """Blank a message, redact the events carrying its content: `message_deleted`."""
        message = self._messages.get(message_id)
        if message is None or message.room_id != room_id:
            raise NotFound(f"no message {message_id}", code="message_not_found")
        if message.record.deleted:
            return self._folded(message), None
        room = self._room(room_id)
        for seq in message.content_seqs:
            old = room.events[seq - 1]
            assert old.type in CARRIES_CONTENT
            room.events[seq - 1] = replace(old, payload=redacted(old.payload))
        for user_id in message.mention_ids:
            room.mentions[user_id].remove(message.record.seq)
        message.mention_ids = set()
        message.reactions = {}
        message.record = replace(
            message.record,
            text="",
            deleted=True,
            attachments=(),
            previews=(),
            mentions=(),
            mentions_room=False,
        )
        actor = self._name(actor_id)
        event = self._append(
            room, lambda seq: roomlog.message_deleted(room.record.name, seq, message_id, actor)
        )
        return message.record, event

    async def set_previews(
        self, room_id: int, message_id: int, previews: Sequence[dict[str, Any]]
    ) -> tuple[MessageRecord, RoomEvent | None] | None:
        """Store link previews on a live message: `previews_set`; None if it is gone."""
        try:
            message = self._live(room_id, message_id)
        except NotFound:
            return None
        if list(message.record.previews) == list(previews):
            return self._folded(message), None
        room = self._room(room_id)
        stored = tuple(dict(p) for p in previews)
        event = self._append(
            room,
            lambda seq: roomlog.previews_set(room.record.name, seq, message_id, list(stored)),
        )
        message.record = replace(message.record, previews=stored)
        message.content_seqs.append(event.seq)
        return self._folded(message), event

    async def add_reaction(
        self, room_id: int, message_id: int, user_id: int, emoji: str, now: datetime
    ) -> RoomEvent | None:
        """`reaction_added`, None if `user_id` had this reaction already."""
        _check_member(self._room(room_id), user_id)
        message = self._live(room_id, message_id)
        user = self._name(user_id)
        users = message.reactions.setdefault(emoji, {})
        if user_id in users:
            return None
        room = self._room(room_id)
        event = self._append(
            room,
            lambda seq: roomlog.reaction_added(room.record.name, seq, message_id, emoji, user),
        )
        users[user_id] = event.seq
        return event

    async def remove_reaction(
        self, room_id: int, message_id: int, user_id: int, emoji: str, now: datetime
    ) -> RoomEvent | None:
        """`reaction_removed`, None if `user_id` had no such reaction."""
        _check_member(self._room(room_id), user_id)
        message = self._messages.get(message_id)
        if message is None or message.room_id != room_id:
            return None
        users = message.reactions.get(emoji, {})
        if user_id not in users:
            return None
        del users[user_id]
        if not users:
            del message.reactions[emoji]
        room = self._room(room_id)
        user = self._name(user_id)
        return self._append(
            room,
            lambda seq: roomlog.reaction_removed(room.record.name, seq, message_id, emoji, user),
        )

    # the log

    async def events_after(self, room_id: int, after: int, limit: int) -> list[RoomEvent]:
        """The oldest `limit` events with seq > `after`, in seq order, redactions applied."""
        room = self._rooms.get(room_id)
        if room is None:
            return []
        start = max(0, after)
        return room.events[start : start + max(0, limit)]

    async def close(self) -> None:
        """Nothing to release."""
