"""Messages: send (idempotent, seq-ordered, replies, mentions), history, threads, edit,
delete, link previews. Reactions are in `reactions.py`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from confab.chat.domain import (
    DEFAULT_LIMIT,
    Message,
    User,
    can_delete,
    can_edit,
    check_attachments,
    check_client_id,
    check_page,
    check_text,
    is_moderator,
)
from confab.chat.mediajson import attachment_json
from confab.chat.mentions import parse_mentions
from confab.chat.ports import MediaClient
from confab.chat.services.config import Clock, utc_now
from confab.chat.services.events import RoomEvents
from confab.chat.services.previews import LinkPreviewer
from confab.chat.services.rooms import RoomService
from confab.core.chatstore import ChatStore, NewMessage, RoomAccess
from confab.core.errors import Conflict, Forbidden, NotFound, Unavailable


def _no_message(message_id: int) -> NotFound:
    return NotFound(f"no message {message_id} in this room", code="message_not_found")


class MessageService:
    """Message use cases. Events go on the bus after the change is committed."""

    def __init__(
        self,
        store: ChatStore,
        rooms: RoomService,
        events: RoomEvents,
        clock: Clock = utc_now,
        media: MediaClient | None = None,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._events = events
        self._clock = clock
        # Without media (a chat-only node, for now) attachments are refused, links unpreviewed.
        self._media = media
        self._previewer = None if media is None else LinkPreviewer(media, store, events)

    async def send(
        self,
        user: User,
        room: str,
        text: str,
        client_id: str | None = None,
        attachments: Iterable[str] = (),
        reply_to: int | None = None,
        joined: RoomAccess | None = None,
    ) -> tuple[Message, bool]:
        """Store and publish a message; a repeated `client_id` returns the first, False.

        `joined`: the access read when the caller's connection joined the room (it is
        dropped from the room on removal). It saves a read; the store still refuses a
        non-member in the write's own transaction. An `@room` reads the role afresh.
        """
        check_text(text)
        check_client_id(client_id)
        upload_ids = check_attachments(attachments)
        if reply_to is not None and not 1 <= reply_to < 2**63:
            raise _no_message(reply_to)
        mentions = parse_mentions(text)
        if joined is None or mentions.room:
            access = await self._rooms.readable(user, room)
        else:
            access = joined
        attached = await self._describe(upload_ids) if upload_ids else ()
        new = NewMessage(
            room_id=access.room.id,
            room=access.room.name,
            author_id=user.id,
            author=user.username,
            text=text,
            client_id=client_id,
            attachments=attached,
            created_at=self._clock(),
            reply_to=reply_to,
            mentions=tuple(m for m in mentions.users if m != user.username),
            # @room from a plain member is plain text, not an error.
            mentions_room=mentions.room and is_moderator(access.role),
        )
        message, event = await self._events.commit(
            access.room.name, lambda: self._store.append_message(new)
        )
        if event is not None and self._previewer is not None:
            self._previewer.after_send(message)
        if message.room != access.room.name:
            raise Conflict(
                "this client_id was already used for a message in another room",
                code="client_id_reused",
            )
        return message, event is not None

    async def _describe(self, upload_ids: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
        """The attachment objects of `upload_ids` (stored as given: signed URLs and size)."""
        if self._media is None:
            raise Unavailable(
                "attachments need the media role, which this node cannot reach",
                code="media_unavailable",
            )
        found = await self._media.describe_attachments(upload_ids)
        missing = [upload_id for upload_id in upload_ids if upload_id not in found]
        if missing:
            raise NotFound(f"no upload {missing[0]}", code="unknown_attachment")
        return tuple(attachment_json(found[upload_id]) for upload_id in upload_ids)

    async def history(
        self,
        user: User,
        room: str,
        before: int | None = None,
        after: int | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> tuple[list[Message], bool]:
        """A page in seq order, and whether there is more beyond it.

        `after`: the oldest messages past that seq, and before `before` if given too
        (has_more: more exist in that range). Otherwise the newest before `before` (or
        overall) (has_more: older ones exist).
        """
        check_page(before, after, limit)
        access = await self._rooms.readable(user, room)
        if after is not None:
            page = await self._store.messages_after(access.room.id, after, limit + 1)
            if before is not None:
                page = [m for m in page if m.seq < before]
            return page[:limit], len(page) > limit
        page = await self._store.messages_before(access.room.id, before, limit + 1)
        return page[-limit:], len(page) > limit

    async def thread(
        self, user: User, room: str, root_id: int, limit: int = DEFAULT_LIMIT
    ) -> tuple[Message, list[Message], bool]:
        """A thread: its root, the first `limit` replies, and whether more follow."""
        check_page(None, None, limit)
        access = await self._rooms.readable(user, room)
        if not 1 <= root_id < 2**63:
            raise _no_message(root_id)
        found = await self._store.thread(access.room.id, root_id, limit + 1)
        if not found:
            raise _no_message(root_id)
        root, replies = found[0], found[1:]
        return root, replies[:limit], len(replies) > limit

    async def _message(self, user: User, room: str, message_id: int) -> tuple[RoomAccess, Message]:
        access = await self._rooms.readable(user, room)
        message = None
        if 1 <= message_id < 2**63:
            message = await self._store.get_message(access.room.id, message_id)
        if message is None:
            raise _no_message(message_id)
        return access, message

    async def edit(self, user: User, room: str, message_id: int, text: str) -> Message:
        """The author replaces the text; publishes `message_edited`."""
        check_text(text)
        access, message = await self._message(user, room, message_id)
        if message.deleted:
            raise Conflict("this message was deleted", code="message_deleted")
        if not can_edit(user.username, message):
            raise Forbidden("only its author edits a message", code="not_author")
        record, now = access.room, self._clock()
        edited, _ = await self._events.commit(
            record.name,
            lambda: self._store.edit_message(record.id, message.id, text, user.id, now),
        )
        if self._previewer is not None:
            self._previewer.after_edit(message, edited)
        return edited

    async def delete(self, user: User, room: str, message_id: int) -> Message:
        """The author, a moderator or the owner blanks it; publishes `message_deleted` once."""
        access, message = await self._message(user, room, message_id)
        if not can_delete(user.username, message, access.role):
            raise Forbidden("only its author or a moderator deletes a message", code="not_author")
        if message.deleted:
            return message
        record, now = access.room, self._clock()
        deleted, _ = await self._events.commit(
            record.name, lambda: self._store.delete_message(record.id, message.id, user.id, now)
        )
        return deleted

    async def aclose(self) -> None:
        """Stop background work (pending link previews)."""
        if self._previewer is not None:
            await self._previewer.aclose()

    async def set_previews(
        self, room: str, message_id: int, previews: Sequence[dict[str, Any]]
    ) -> Message | None:
        """Attach link previews (media jobs call this); publishes `previews_set`."""
        record = await self._store.get_room(room.lower())
        if record is None:
            return None
        result = await self._events.commit(
            record.name, lambda: self._store.set_previews(record.id, message_id, previews)
        )
        return None if result is None else result[0]
