"""Publishing after commit: room events in seq order, ephemeral frames, user frames.

Every durable change of a room is made by a store method that returns its `RoomEvent`s;
`RoomEvents.commit` runs that method and publishes what it returned in the order the
changes were started, so this process publishes a room's events in seq order (a hub then rarely
repairs a gap) and only ever after the transaction committed. A bus failure never fails
the committed change: a hub that missed an event sees the seq gap and reads the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from confab.chat.busevent import (
    encode_ephemeral,
    encode_event,
    room_channel,
    user_channel,
)
from confab.core.ports import Bus
from confab.core.roomlog import RoomEvent

log = logging.getLogger("confab.chat.events")

T = TypeVar("T")


class _Turns:
    """Per room, the order in which changes were handed to the store: each waits for the
    ones before it to be published before publishing its own. Stores run concurrently (so
    a store that groups commits gets several at once); publishing follows call order,
    which is the order the store assigns seqs within one process. Idle rooms hold nothing.
    """

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[None]] = {}

    def take(self, room: str) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        """(the turn before mine or None, mine); `done(room, mine)` when published."""
        before = self._tails.get(room)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[room] = mine
        return before, mine

    def done(self, room: str, mine: asyncio.Future[None]) -> None:
        """My turn is over: the next may publish."""
        mine.set_result(None)
        if self._tails.get(room) is mine:
            del self._tails[room]


def _events_of(result: object) -> list[RoomEvent]:
    """The events a store method returned (an event, None, a list, or a (record, event))."""
    if result is None:
        return []
    if isinstance(result, RoomEvent):
        return [result]
    if isinstance(result, list):
        return [e for e in result if isinstance(e, RoomEvent)]
    if type(result) is tuple:  # a store's (record, event) pair; records are NamedTuples
        return [e for part in result for e in _events_of(part)]
    return []


class RoomEvents:
    """Stores-then-publishes room changes; publishes user and ephemeral frames."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._turns = _Turns()

    async def commit(self, room: str, change: Callable[[], Awaitable[T]]) -> T:
        """Run the store call `change`, then publish the events it returned.

        The publish happens after the transaction committed, and after the changes of the
        room that this process started earlier were published (seq order).
        """
        before, mine = self._turns.take(room)
        try:
            result = await change()
            if before is not None:
                await asyncio.shield(before)
            for event in _events_of(result):
                await self._publish(room_channel(event.room), encode_event(event))
        finally:
            self._turns.done(room, mine)
        return result

    async def ephemeral(self, room: str, kind: str, frame: bytes) -> None:
        """Publish a frame with no seq (typing, presence, room_deleted) on the room."""
        await self._publish(room_channel(room), encode_ephemeral(kind, frame))

    async def to_user(self, username: str, kind: str, frame: bytes) -> None:
        """Publish `frame` (of type `kind`) to every connection of `username`."""
        await self._publish(user_channel(username), encode_ephemeral(kind, frame))

    async def _publish(self, channel: str, message: bytes) -> None:
        try:
            await self._bus.publish(channel, message)
        except Exception:
            log.exception("publishing a chat event failed", extra={"channel": channel})
