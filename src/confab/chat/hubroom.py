"""What the hub works with: its subscribers, its view of the store, a room's state."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from confab.chat.outgoing import Outgoing
from confab.core.ports import Subscription
from confab.core.roomlog import RoomEvent


class Subscriber(Protocol):
    """What the hub needs from a connection."""

    @property
    def user(self) -> str:
        """The connected user's name."""
        ...

    def deliver(self, frame: Outgoing) -> None:
        """Queue `frame` for sending; never blocks and never calls back into the hub."""

    def overflow(self) -> None:
        """Frames held for this subscriber overflowed: close it (4009) so it resumes."""

    def dropped(self, room: str) -> None:
        """The hub stopped delivering `room` (its user was removed, or the room deleted)."""


class RoomSource(Protocol):
    """The store as the hub sees it."""

    async def last_seq(self, room: str) -> int:
        """The seq of the room's newest event (0 when none)."""
        ...

    async def events_after(self, room: str, after: int, limit: int) -> list[RoomEvent]:
        """Up to `limit` stored events with seq > `after`, in seq order."""
        ...


class Held:
    """Frames kept aside for a connection in the middle of its join or resume."""

    __slots__ = ("ended", "frames")

    def __init__(self) -> None:
        self.frames: list[Outgoing] = []
        self.ended = False  # removed from the room meanwhile: deliver, then stop


class RoomState:
    """One room on this node: its connections, the last seq delivered, its bus inbox."""

    __slots__ = ("busy", "held", "inbox", "last", "live", "name", "opening", "subscription")

    def __init__(self, name: str) -> None:
        self.name = name
        self.live: set[Subscriber] = set()
        self.held: dict[Subscriber, Held] = {}
        self.last = 0
        self.subscription: Subscription | None = None
        self.opening: asyncio.Future[None] | None = None
        self.inbox: deque[bytes | None] = deque()  # None: catch up with the store
        self.busy = False  # a coroutine is processing the inbox

    def empty(self) -> bool:
        return not self.live and not self.held and self.opening is None
