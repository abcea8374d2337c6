"""The sending side of one WebSocket connection: a bounded, never-blocking send queue.

Two implementations of the same contract (`deliver` queues a frame and returns at once;
past `limit` bytes queued the connection is closed with 4009 and the client resumes):

- `DirectConnection`, when the server offers the `confab.direct` extension (Confab's
  uvicorn protocol, `confab.node.websocket`): the frame's wire bytes, built once per
  message, go straight into the transport; the transport's write buffer *is* the queue,
  so an idle connection holds no queue, no task and no copy.
- `AsgiConnection`, for any other ASGI server: a deque of frames drained by a writer task
  that exists only while there is something to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from confab.chat.outgoing import Outgoing

log = logging.getLogger("confab.chat.ws")

CLOSE_RATE_LIMITED = 4008
CLOSE_TOO_SLOW = 4009

AsgiSend = Callable[[dict[str, Any]], Awaitable[None]]


class DirectSocket(Protocol):
    """The `confab.direct` scope extension (see `confab.node.websocket`)."""

    def write_frame(self, frame: bytes) -> int:
        """Write a whole frame; the bytes now buffered, or -1 if the socket is closing."""
        ...

    def buffered(self) -> int:
        """Bytes waiting in the write buffer."""
        ...

    def close_now(self, code: int, reason: str = "") -> None:
        """Send a close frame without waiting for the buffer to drain."""

    def set_send_buffer(self, size: int) -> None:
        """Cap the kernel's send buffer of the socket."""


class Connection:
    """A connected user's outgoing side; see the module docstring."""

    __slots__ = ("closed", "on_drop", "user")

    def __init__(self, user: str) -> None:
        self.user = user
        self.closed = False
        # Told when the hub stops delivering a room (a removal): the session forgets it.
        self.on_drop: Callable[[str], None] | None = None

    def dropped(self, room: str) -> None:
        """The hub stopped delivering `room` to this connection."""
        if self.on_drop is not None:
            self.on_drop(room)

    def deliver(self, frame: Outgoing) -> None:
        """Queue `frame`; close with 4009 when the queue is over its limit."""
        raise NotImplementedError

    def send(self, payload: bytes) -> None:
        """Queue a frame meant for this connection only (ack, error, joined...)."""
        self.deliver(Outgoing(payload))

    def close(self, code: int, reason: str = "") -> None:
        """Close the WebSocket with `code`; later frames are dropped."""
        raise NotImplementedError

    def overflow(self) -> None:
        """The client reads too slowly: cut it off with 4009 (it will resume)."""
        if not self.closed:
            log.info("closing a slow reader", extra={"user": self.user})
            self.close(CLOSE_TOO_SLOW, "send queue overflow")

    def backlog(self) -> int:
        """Bytes queued and not yet handed to the kernel."""
        raise NotImplementedError

    async def drained(self, below: int) -> None:
        """Wait until the backlog is under `below` bytes (or the connection closed).

        Long replays (resume) pace themselves with this instead of overflowing the queue.
        """
        # Polling: rare (long replays only), and the transport exposes no drain event.
        while not self.closed and self.backlog() > below:  # noqa: ASYNC110
            await asyncio.sleep(0.005)


class DirectConnection(Connection):
    """Writes wire frames straight to the transport (the `confab.direct` extension)."""

    __slots__ = ("_limit", "_sock")

    def __init__(self, user: str, sock: DirectSocket, limit: int) -> None:
        super().__init__(user)
        self._sock = sock
        self._limit = limit

    def deliver(self, frame: Outgoing) -> None:
        """See `Connection.deliver`."""
        if self.closed:
            return
        buffered = self._sock.write_frame(frame.wire)
        if buffered > self._limit:
            self.overflow()
        elif buffered < 0:
            self.closed = True

    def close(self, code: int, reason: str = "") -> None:
        """See `Connection.close`."""
        if not self.closed:
            self.closed = True
            self._sock.close_now(code, reason)

    def backlog(self) -> int:
        """See `Connection.backlog`."""
        return self._sock.buffered()


class AsgiConnection(Connection):
    """A bounded deque drained by a writer task that runs only while frames wait."""

    __slots__ = ("_closing", "_limit", "_queue", "_queued", "_send", "_writer")

    def __init__(self, user: str, send: AsgiSend, limit: int) -> None:
        super().__init__(user)
        self._send = send
        self._limit = limit
        self._queue: deque[Outgoing] | None = None
        self._queued = 0
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    def deliver(self, frame: Outgoing) -> None:
        """See `Connection.deliver`."""
        if self.closed:
            return
        if self._queue is None:
            self._queue = deque()
        self._queue.extend(frame.frames())
        self._queued += len(frame)
        if self._queued > self._limit:
            self.overflow()
            return
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        queue = self._queue
        assert queue is not None
        try:
            while queue and not self.closed:
                frame = queue.popleft()
                self._queued -= len(frame)
                await self._send({"type": "websocket.send", "text": frame.text})
        except Exception:  # the peer went away: the receive loop ends the session
            self.closed = True
        finally:
            self._writer = None

    def close(self, code: int, reason: str = "") -> None:
        """See `Connection.close`."""
        if self.closed:
            return
        self.closed = True
        if self._queue is not None:
            self._queue.clear()
        self._queued = 0
        if self._writer is not None:
            self._writer.cancel()
        self._closing = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def backlog(self) -> int:
        """See `Connection.backlog`."""
        return self._queued
