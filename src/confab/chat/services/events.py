"""Publishing after commit: room events in seq order, ephemeral frames, user frames.

Every durable change of a room is made by a store method that returns its `RoomEvent`s;
`RoomEvents.commit` runs that method under the room's order lock and publishes what it
returned, so this process publishes a room's events in seq order (a hub then rarely
repairs a gap) and only ever after the transaction committed. A bus failure never fails
the committed change: a hub that missed an event sees the seq gap and reads the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from confab.chat.busevent import (
    encode_ephemeral,
    encode_event,
    room_channel,
    user_channel,
)
from confab.core import jsoncodec
from confab.core.ports import Bus
from confab.core.roomlog import RoomEvent

log = logging.getLogger("confab.chat.events")

T = TypeVar("T")


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


def _events_of(result: object) -> list[RoomEvent]:
    """The events a store method returned (an event, None, a list, or a (record, event))."""
    if result is None:
        return []
    if isinstance(result, RoomEvent):
        return [result]
    if isinstance(result, list):
        return [e for e in result if isinstance(e, RoomEvent)]
    if isinstance(result, tuple):
        return [e for part in result for e in _events_of(part)]
    return []


class RoomEvents:
    """Stores-then-publishes room changes; publishes user and ephemeral frames."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._order = _RoomLocks()

    async def commit(self, room: str, change: Callable[[], Awaitable[T]]) -> T:
        """Run the store call `change` under `room`'s order lock, then publish its events.

        The publish happens after the transaction committed and before the next change
        of the room in this process is stored.
        """
        async with self._order.hold(room):
            result = await change()
            for event in _events_of(result):
                await self._publish(room_channel(event.room), encode_event(event))
        return result

    async def ephemeral(self, room: str, kind: str, frame: bytes) -> None:
        """Publish a frame with no seq (typing, presence, room_deleted) on the room."""
        await self._publish(room_channel(room), encode_ephemeral(kind, frame))

    async def to_user(self, username: str, kind: str, body: dict[str, object]) -> None:
        """Publish `{"type": kind, **body}` to every connection of `username`."""
        frame = jsoncodec.dumps({"type": kind, **body})
        await self._publish(user_channel(username), encode_ephemeral(kind, frame))

    async def _publish(self, channel: str, message: bytes) -> None:
        try:
            await self._bus.publish(channel, message)
        except Exception:
            log.exception("publishing a chat event failed", extra={"channel": channel})
