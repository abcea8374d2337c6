"""Messages: send (idempotent, seq-ordered), history, edit, delete, previews."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from confab.chat.domain import (
    DEFAULT_LIMIT,
    Message,
    User,
    can_delete,
    can_edit,
    can_post,
    can_read,
    check_attachments,
    check_client_id,
    check_page,
    check_text,
)
from confab.chat.mediajson import attachment_json
from confab.chat.ports import MediaClient
from confab.chat.services.config import Clock, utc_now
from confab.chat.services.events import RoomEvents, deleted_frame, message_frame
from confab.chat.services.previews import LinkPreviewer
from confab.chat.services.rooms import RoomService
from confab.core.chatstore import ChatStore, NewMessage, RoomAccess
from confab.core.errors import Conflict, Forbidden, NotFound, Unavailable, excerpt


class _RoomLocks:
    """One asyncio lock per busy room; idle rooms hold no lock object."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, room: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(room, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[room] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[room]
            if users == 1:
                del self._locks[room]
            else:
                self._locks[room] = (lock, users - 1)


def _not_member() -> Forbidden:
    return Forbidden("you are not a member of this room", code="not_a_member")


class MessageService:
    """Message use cases. Frames go on the bus after the change is committed."""

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
        # Store-then-publish runs under a per-room lock, so this process publishes a
        # room's messages in seq order (hubs then rarely need to repair a gap).
        self._order = _RoomLocks()

    async def _member_access(self, user: User, room: str) -> RoomAccess:
        access = await self._rooms.access(user, room)
        if not can_read(access.member):
            raise _not_member()
        return access

    async def send(
        self,
        user: User,
        room: str,
        text: str,
        client_id: str | None = None,
        attachments: Iterable[str] = (),
    ) -> tuple[Message, bool]:
        """Store and publish a message; a repeated `client_id` returns the first, False."""
        check_text(text)
        check_client_id(client_id)
        upload_ids = check_attachments(attachments)
        access = await self._rooms.access(user, room)
        if not can_post(access.member):
            raise _not_member()
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
        )
        async with self._order.hold(access.room.name):
            message, created = await self._store.append_message(new)
            if created:
                await self._events.publish(message.room, message_frame("message", message))
        if created and self._previewer is not None:
            self._previewer.after_send(message)
        if message.room != access.room.name:
            raise Conflict(
                "this client_id was already used for a message in another room",
                code="client_id_reused",
            )
        return message, created

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
        access = await self._member_access(user, room)
        if after is not None:
            page = await self._store.messages_after(access.room.id, after, limit + 1)
            if before is not None:
                page = [m for m in page if m.seq < before]
            return page[:limit], len(page) > limit
        page = await self._store.messages_before(access.room.id, before, limit + 1)
        return page[-limit:], len(page) > limit

    async def replay(self, room: str, after: int, limit: int = DEFAULT_LIMIT) -> list[Message]:
        """Messages of `room` with seq > `after`, in order, unchecked (for hubs repairing a gap).

        Callers must have checked the reader's membership themselves.
        """
        record = await self._store.get_room(room.lower())
        if record is None:
            raise NotFound(f"no room {excerpt(room)!r}", code="room_not_found")
        return await self._store.messages_after(record.id, after, limit)

    async def _own_message(
        self, user: User, room: str, message_id: int
    ) -> tuple[RoomAccess, Message]:
        access = await self._member_access(user, room)
        message = await self._store.get_message(access.room.id, message_id)
        if message is None:
            raise NotFound(f"no message {message_id} in this room", code="message_not_found")
        return access, message

    async def edit(self, user: User, room: str, message_id: int, text: str) -> Message:
        """The author replaces the text; publishes `message_updated`."""
        check_text(text)
        _, message = await self._own_message(user, room, message_id)
        if message.deleted:
            raise Conflict("this message was deleted", code="message_deleted")
        if not can_edit(user.username, message):
            raise Forbidden("only its author edits a message", code="not_author")
        edited = await self._store.edit_message(message.id, text, self._clock())
        await self._events.publish(edited.room, message_frame("message_updated", edited))
        if self._previewer is not None:
            self._previewer.after_edit(message, edited)
        return edited

    async def delete(self, user: User, room: str, message_id: int) -> Message:
        """The author or the room owner blanks it; publishes `message_deleted` once."""
        access, message = await self._own_message(user, room, message_id)
        if not can_delete(user.username, message, access.room):
            raise Forbidden(
                "only its author or the room owner deletes a message", code="not_author"
            )
        if message.deleted:
            return message
        deleted = await self._store.delete_message(message.id, self._clock())
        await self._events.publish(deleted.room, deleted_frame(deleted))
        return deleted

    async def aclose(self) -> None:
        """Stop background work (pending link previews)."""
        if self._previewer is not None:
            await self._previewer.aclose()

    async def set_previews(
        self, room: str, message_id: int, previews: Sequence[dict[str, Any]]
    ) -> Message | None:
        """Attach link previews (media jobs call this); publishes `message_updated`."""
        record = await self._store.get_room(room.lower())
        if record is None:
            return None
        message = await self._store.get_message(record.id, message_id)
        if message is None:
            return None
        updated = await self._store.set_previews(message.id, previews)
        if updated is not None:
            await self._events.publish(updated.room, message_frame("message_updated", updated))
        return updated
