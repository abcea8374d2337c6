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
    Resume,
    Send,
    Typing,
    ack_frame,
    error_frame,
    joined_frame,
    parse_client_frame,
    resumed_frame,
    typing_frame,
)
from confab.chat.ratelimit import Strikes
from confab.chat.services import ChatServices
from confab.chat.services.config import WS_FRAME
from confab.chat.services.events import message_frame, room_channel
from confab.chat.userfeed import UserFeed
from confab.chat.web.connection import CLOSE_RATE_LIMITED, Connection
from confab.core.chatstore import RoomAccess
from confab.core.errors import ConfabError, Forbidden
from confab.core.ports import Bus
from confab.core.ratelimit import RateLimiter

log = logging.getLogger("confab.chat.ws")

REPLAY_PAGE = 100
PARTIAL_MEMBERS = 50  # members listed in `joined` for a large room
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
    # Each user's connections here, following their sessions (None: not followed).
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
        "_present",
        "_queue",
        "_reader",
        "_rt",
        "_strikes",
        "_worker",
        "conn",
        "rooms",
        "user",
    )

    def __init__(self, rt: Realtime, user: User, conn: Connection) -> None:
        self._rt = rt
        self.user = user
        self.conn = conn
        self.rooms: list[str] = []  # few per connection: a list is smaller than a set
        self._present: list[str] | None = None  # rooms where this connection counts present
        self._strikes: Strikes | None = None  # made on the first refusal only
        self._queue: deque[str | bytes] | None = None  # callback mode, while frames wait
        self._worker: asyncio.Task[None] | None = None
        self._reader: ReadControl | None = None
        self._done = False

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
        rt = self._rt
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
        self._rt.connections -= 1
        if self._rt.feed is not None:
            self._rt.feed.detach(self.user.username, self.conn)
        for room in list(self.rooms):
            self._left(room)

    async def _dispatch(self, frame: ClientFrame) -> None:
        if isinstance(frame, Send):
            await self._send(frame)
        elif isinstance(frame, Ping):
            self.conn.send(PONG)
        elif isinstance(frame, Typing):
            await self._typing(frame)
        elif isinstance(frame, Join):
            await self._join(frame)
        elif isinstance(frame, Leave):
            self._left(frame.room)
        elif isinstance(frame, Resume):
            await self._resume(frame)

    async def _send(self, frame: Send) -> None:
        # The message frame itself reaches everyone joined, the sender too, through the
        # bus and the hub; the sender also gets the ack (again for a repeated client_id).
        message, _ = await self._rt.services.messages.send(
            self.user, frame.room, frame.text, frame.client_id, frame.attachments
        )
        self.conn.send(ack_frame(frame.client_id, message.id, message.seq))

    # rooms

    async def _member_access(self, room: str) -> tuple[RoomAccess, int]:
        """The room (members only) and its member count."""
        rt = self._rt
        access = await rt.services.rooms.access(self.user, room)
        if not access.member:
            raise Forbidden("you are not a member of this room", code="not_a_member")
        room_id = access.room.id
        count = await rt.member_counts.get(
            access.room.name, lambda: rt.services.store.member_count(room_id)
        )
        return access, count

    def _entered(self, room: str, members: int) -> bool:
        """Record `room` as joined, unless the connection closed meanwhile (then undo)."""
        rt = self._rt
        if self.conn.closed:
            rt.hub.leave(self.conn, room)
            return False
        if room not in self.rooms:
            self.rooms.append(room)
            if members <= rt.large_room:
                if self._present is None:
                    self._present = []
                self._present.append(room)
                rt.presence.entered(self.user.username, room)
        return True

    def _left(self, room: str) -> None:
        rt = self._rt
        rt.hub.leave(self.conn, room)
        if room in self.rooms:
            self.rooms.remove(room)
        if self._present is not None and room in self._present:
            self._present.remove(room)
            rt.presence.left(self.user.username, room)

    async def _join(self, frame: Join) -> None:
        rt, room, conn, me = self._rt, frame.room, self.conn, self.user.username
        _, count = await self._member_access(room)
        small = count <= rt.large_room
        names = await rt.services.rooms.members(room) if small else []
        # Read before joining (greet cannot wait): who is online on any node.
        online = await rt.presence.online(room, names) if small else set()

        def greet(last_seq: int) -> None:
            if small:
                members = [(n, n == me or n in online) for n in names]
            else:  # those connected here (this one included), never thousands
                users = rt.hub.local_users(room, PARTIAL_MEMBERS)
                members = [(n, True) for n in users]
            frame = joined_frame(room, last_seq, members, member_count=count, partial=not small)
            conn.send(frame)

        await rt.hub.join(conn, room, greet)
        self._entered(room, count)

    async def _resume(self, frame: Resume) -> None:
        """Replay seq > after from the store, `resumed`, then the live frames held meanwhile."""
        rt, room, conn = self._rt, frame.room, self.conn
        _, count = await self._member_access(room)
        last = await rt.hub.hold(conn, room)
        if not self._entered(room, count):
            return
        try:
            after = frame.after
            while after < last and not conn.closed:
                page = await rt.services.messages.replay(room, after, REPLAY_PAGE)
                for message in page:
                    if message.seq > last:
                        break  # newer ones are in the held live frames
                    conn.send(message_frame("message", message))
                    after = message.seq
                if len(page) < REPLAY_PAGE or after == last or page[-1].seq > last:
                    break
                await conn.drained(rt.send_buffer // 2)
            if conn.closed:
                self._left(room)
                return
            conn.send(resumed_frame(room, last))
            rt.hub.release(conn, room)
        except BaseException:
            self._left(room)
            raise

    async def _typing(self, frame: Typing) -> None:
        rt, room = self._rt, frame.room
        if not rt.hub.is_joined(self.conn, room):
            raise Forbidden("join the room first", code="not_joined")
        if rt.typing.allow(self.user.username, room):
            await rt.bus.publish(room_channel(room), typing_frame(room, self.user.username))
