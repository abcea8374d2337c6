"""One WebSocket session: client frames in, service calls, frames out.

Frames of a connection are handled one after the other (a client's `send`s are stored
in the order it sent them). Every failure becomes an `error` frame and the connection
stays open, except flooding (4008) and a send queue overflow (4009).

A session is fed either by an ASGI receive loop (`handle` per frame) or, on Confab's own
server protocol, by callbacks (`on_message`/`on_close`): then frames wait in a small queue
worked off by a task that exists only while there are some, so an idle connection holds
no task at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from confab.chat.domain import User
from confab.chat.hub import Hub
from confab.chat.membercounts import MemberCounts
from confab.chat.presence import Presence, TypingThrottle
from confab.chat.protocol import (
    PONG,
    ClientFrame,
    FrameError,
    Join,
    Leave,
    Ping,
    React,
    Read,
    Resume,
    Send,
    Typing,
    error_frame,
    parse_client_frame,
)
from confab.chat.ratelimit import Strikes
from confab.chat.services import ChatServices
from confab.chat.services.config import WS_FRAME
from confab.chat.userfeed import UserFeed
from confab.chat.web import actions, entry
from confab.chat.web.connection import CLOSE_RATE_LIMITED, Connection
from confab.core.chatstore import RoomAccess
from confab.core.errors import ConfabError
from confab.core.ports import Bus
from confab.core.ratelimit import RateLimiter

log = logging.getLogger("confab.chat.ws")

_QUEUE_HIGH = 8  # frames waiting before the socket stops being read


class ReadControl(Protocol):
    """Flow control of the socket feeding a callback-driven session."""

    def pause_reading(self) -> None:
        """Stop reading from the socket."""

    def resume_reading(self) -> None:
        """Read again."""


@dataclass
class Realtime:
    """What every session shares: services, the hub, presence, limits."""

    services: ChatServices
    bus: Bus
    hub: Hub
    presence: Presence
    typing: TypingThrottle
    limiter: RateLimiter
    strikes: int  # rate_limited errors a connection may collect before 4008
    send_buffer: int  # bytes a connection may have queued before 4009
    kernel_send_buffer: int = 0  # SO_SNDBUF of each socket; 0: the OS default (autotuned)
    # Rooms with more members get no presence frames and a partial member list in `joined`.
    large_room: int = 500
    member_counts: MemberCounts = field(default_factory=MemberCounts)
    connections: int = 0  # open on this node (for metrics)
    # Each user's connections here: per-user frames (room_added, room_removed) and the
    # sessions they follow (None: not followed).
    feed: UserFeed | None = None

    async def close(self) -> None:
        """Stop the hub's subscriptions, presence timers and user channels."""
        await self.hub.close()
        await self.presence.close()
        if self.feed is not None:
            await self.feed.close()


class Session:
    """The state of one connection beyond its socket: rooms joined, strikes."""

    __slots__ = (
        "_done",
        "_queue",
        "_reader",
        "_strikes",
        "_worker",
        "access",
        "conn",
        "present",
        "rooms",
        "rt",
        "user",
    )

    def __init__(self, rt: Realtime, user: User, conn: Connection) -> None:
        self.rt = rt
        self.user = user
        self.conn = conn
        self.rooms: list[str] = []  # few per connection: a list is smaller than a set
        # The access read at join, per joined room: writes from this connection skip the
        # read (see actions.py); made on the first join, entries go with `entry.left`.
        self.access: dict[str, RoomAccess] | None = None
        self.present: list[str] | None = None  # rooms where this connection counts present
        self._strikes: Strikes | None = None  # made on the first refusal only
        self._queue: deque[str | bytes] | None = None  # callback mode, while frames wait
        self._worker: asyncio.Task[None] | None = None
        self._reader: ReadControl | None = None
        self._done = False
        conn.on_drop = self.dropped

    def joined_access(self, room: str) -> RoomAccess | None:
        """The access cached when this connection joined `room` (None: not joined)."""
        return None if self.access is None else self.access.get(room)

    def dropped(self, room: str) -> None:
        """Removed from `room` (or it was deleted): forget it, presence included."""
        entry.left(self, room)

    # callback mode

    def attach(self, reader: ReadControl) -> None:
        """Frames will come through `on_message`; `reader` paces the socket."""
        self._reader = reader

    def on_message(self, data: str | bytes) -> None:
        """A client frame arrived: queue it; a worker task handles the queue in order."""
        if self.conn.closed:
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(data)
        if len(queue) >= _QUEUE_HIGH and self._reader is not None:
            self._reader.pause_reading()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(queue))

    def on_close(self, code: int) -> None:
        """The socket closed: frames not yet handled are dropped, the rooms left."""
        if self._queue is not None:
            self._queue.clear()
        self.end()

    async def _work(self, queue: deque[str | bytes]) -> None:
        try:
            while queue and not self.conn.closed:
                await self.handle(queue.popleft())
                if len(queue) < _QUEUE_HIGH // 2 and self._reader is not None:
                    self._reader.resume_reading()
        finally:
            self._worker = None
            if not queue:
                self._queue = None  # an idle session keeps no deque

    # frames

    async def handle(self, data: str | bytes) -> None:
        """Act on one client frame."""
        rt = self.rt
        if not await rt.limiter.acquire(WS_FRAME, self.user.username):
            self.conn.send(error_frame("rate_limited", "too many frames: slow down"))
            if self._strikes is None:
                self._strikes = Strikes(rt.strikes)
            if self._strikes.strike():
                self.conn.close(CLOSE_RATE_LIMITED, "rate limit exceeded")
            return
        try:
            frame = parse_client_frame(data)
        except FrameError as exc:
            self.conn.send(error_frame(exc.code, exc.message, **exc.context))
            return
        try:
            await self._dispatch(frame)
        except ConfabError as exc:
            self.conn.send(
                error_frame(
                    exc.reason,
                    exc.detail or exc.reason,
                    room=getattr(frame, "room", None),
                    client_id=getattr(frame, "client_id", None),
                )
            )
        except Exception:
            log.exception("WebSocket frame failed", extra={"user": self.user.username})
            self.conn.send(
                error_frame(
                    "internal",
                    "the server failed to handle this frame",
                    room=getattr(frame, "room", None),
                    client_id=getattr(frame, "client_id", None),
                )
            )

    def end(self) -> None:
        """The connection closed: leave every room (frames in flight will not rejoin)."""
        if self._done:
            return
        self._done = True
        self.conn.closed = True
        self.rt.connections -= 1
        if self.rt.feed is not None:
            self.rt.feed.detach(self.user.username, self.conn)
        for room in list(self.rooms):
            entry.left(self, room)

    async def _dispatch(self, frame: ClientFrame) -> None:
        if isinstance(frame, Send):
            await actions.send(self, frame)
        elif isinstance(frame, Ping):
            self.conn.send(PONG)
        elif isinstance(frame, Typing):
            await actions.typing(self, frame)
        elif isinstance(frame, React):
            await actions.react(self, frame)
        elif isinstance(frame, Read):
            await actions.read(self, frame)
        elif isinstance(frame, Join):
            await entry.join(self, frame)
        elif isinstance(frame, Leave):
            entry.left(self, frame.room)
        elif isinstance(frame, Resume):
            await entry.resume(self, frame)
