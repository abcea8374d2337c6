"""Link previews of stored messages, asked of the media role in the background.

A send or an edit never waits for a preview: the message is stored, acked and fanned out
first; previews come later as a `previews_set` event. Pages that fail simply give none, and
nothing about a failure reaches anyone. Bounded: a few requests run at once, a limited
number wait, and the rest are dropped (a preview is a nicety, never owed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from confab.chat.domain import Message
from confab.chat.links import extract_urls
from confab.chat.mediajson import preview_json
from confab.chat.ports import MediaClient
from confab.chat.services.events import RoomEvents
from confab.core.chatstore import ChatStore

log = logging.getLogger("confab.chat.previews")


class LinkPreviewer:
    """Requests previews for messages' links and stores the ones that arrive."""

    def __init__(
        self,
        media: MediaClient,
        store: ChatStore,
        events: RoomEvents,
        *,
        concurrency: int = 8,
        max_pending: int = 1000,
        timeout: float = 60.0,
    ) -> None:
        self._media = media
        self._store = store
        self._events = events
        self._slots = asyncio.Semaphore(concurrency)
        self._max_pending = max_pending
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()
        # The URLs last asked for, per message: an older answer that lands after an edit
        # must not overwrite the newer one.
        self._wanted: dict[int, tuple[str, ...]] = {}
        self._closed = False

    @property
    def pending(self) -> int:
        """Requests started or waiting."""
        return len(self._tasks)

    def after_send(self, message: Message) -> None:
        """Ask for previews of a new message's links, if it has any."""
        urls = extract_urls(message.text)
        if urls:
            self._start(message, urls)

    def after_edit(self, before: Message, after: Message) -> None:
        """Ask again when an edit changed the links (clearing previews of removed ones)."""
        urls = extract_urls(after.text)
        if urls == extract_urls(before.text):
            return
        if urls or after.previews:
            self._start(after, urls)

    def _start(self, message: Message, urls: tuple[str, ...]) -> None:
        if self._closed:
            return
        if len(self._tasks) >= self._max_pending:
            log.warning("link previews dropped: too many pending", extra={"room": message.room})
            return
        self._wanted[message.id] = urls
        task = asyncio.get_running_loop().create_task(self._run(message, urls))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, message: Message, urls: tuple[str, ...]) -> None:
        try:
            previews = await self._fetch(urls) if urls else []
            if self._wanted.get(message.id) == urls:
                await self._store_previews(message, urls, previews)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A preview is best effort: log for us, tell no one.
            log.warning("link previews failed", exc_info=True, extra={"room": message.room})
        finally:
            if self._wanted.get(message.id) == urls:
                del self._wanted[message.id]

    async def _fetch(self, urls: Sequence[str]) -> list[dict[str, Any]]:
        async with self._slots, asyncio.timeout(self._timeout):
            found = await self._media.link_previews(urls)
        return [preview_json(p) for p in found]

    async def _store_previews(
        self, requested: Message, urls: tuple[str, ...], previews: list[dict[str, Any]]
    ) -> None:
        room = await self._store.get_room(requested.room)
        if room is None:
            return
        current = await self._store.get_message(room.id, requested.id)
        # Edited since (other links) or deleted: this answer is for a text that is gone.
        if current is None or current.deleted or extract_urls(current.text) != urls:
            return
        if list(current.previews) == previews:
            return
        await self._events.commit(
            room.name, lambda: self._store.set_previews(room.id, current.id, previews)
        )

    async def aclose(self) -> None:
        """Cancel what is pending (shutdown): unfinished previews are simply never shown."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._wanted.clear()
