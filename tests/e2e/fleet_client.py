"""A chat client for fleet tests that behaves like the browser client on a bad network.

It connects through the load balancer, joins one room, and checks what it receives:
every room event (a message, an edit, a reaction...) must carry the next seq (no gap, no
duplicate, one order). When its
connection drops it reconnects (nginx picks a live node) and resumes from the last seq it
saw. A sender re-sends an unacknowledged message with the same `client_id` after a
reconnect, as a client must: the server keeps it exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from bench.reconnect import Backoff
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from tests.polling import until

CLOSE_TIMEOUT = 10.0  # seconds a client may take to close, at the end of a test
RECONNECT_ERRORS = (ConnectionClosed, OSError, InvalidStatus, asyncio.TimeoutError, httpx.HTTPError)


class ProtocolViolation(AssertionError):
    """The server broke its ordering promise (a gap, a duplicate, or an out-of-order seq)."""


@dataclass
class RoomClient:
    """One user's connection to one room, reconnecting and resuming on its own."""

    ws_url: Callable[[], Awaitable[str]]  # a new URL (a one-time ticket) per connect
    room: str
    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # every frame with a seq
    acks: dict[str, int | None] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # message ids of acked sends
    base: int = 0  # the room's seq when this client joined
    reconnects: int = 0
    # (wall-clock time, close code, close reason) of every drop; None code: no close frame
    drops: list[tuple[float, int | None, str]] = field(default_factory=list)
    backoff: Backoff = field(default_factory=Backoff)
    _ws: ClientConnection | None = None
    _acked: dict[str, asyncio.Future[int | None]] = field(default_factory=dict)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _closing: bool = False

    @property
    def last_seq(self) -> int:
        return int(self.events[-1]["seq"]) if self.events else self.base

    async def start(self, timeout: float = 20) -> None:
        """Connect and join; returns once the room is joined."""
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def close(self) -> None:
        """Close the connection and stop reconnecting; bounded, so that a test that failed
        shows its own error instead of pytest's timeout on a connection stuck closing."""
        self._closing = True
        with contextlib.suppress(*RECONNECT_ERRORS):
            if self._ws is not None:
                await asyncio.wait_for(self._ws.close(), CLOSE_TIMEOUT)
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=CLOSE_TIMEOUT)

    def check(self) -> None:
        """Raise what the receiving loop died of, if it died."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            if error is not None:
                raise error

    async def send(self, text: str, client_id: str, *, timeout: float = 60) -> int:
        """Send until acknowledged (across reconnects); the message's seq."""
        frame = {"type": "send", "room": self.room, "text": text, "client_id": client_id}
        seq = await self._until_acked(frame, client_id, timeout)
        assert seq is not None
        return seq

    async def react(self, target: int, emoji: str, client_id: str, *, timeout: float = 60) -> None:
        """React until acknowledged (a repeat after a reconnect is acked with seq null)."""
        frame = {"type": "react", "room": self.room, "target": target, "emoji": emoji}
        await self._until_acked({**frame, "client_id": client_id}, client_id, timeout)

    async def _until_acked(
        self, frame: dict[str, Any], client_id: str, timeout: float
    ) -> int | None:
        future = self._acked.setdefault(client_id, asyncio.get_running_loop().create_future())
        deadline = asyncio.get_running_loop().time() + timeout
        while not future.done():
            remaining = deadline - asyncio.get_running_loop().time()
            self.check()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: {client_id} never acknowledged")
            await asyncio.wait_for(self._connected.wait(), remaining)
            ws = self._ws
            if ws is None:  # dropped again between the wake-up and now
                continue
            try:
                await ws.send(json.dumps(frame))
                # Wait for the ack, or for the connection to drop (then send again).
                await asyncio.wait_for(asyncio.shield(future), min(remaining, 5))
            except RECONNECT_ERRORS:
                continue
        return future.result()

    async def wait_for_seq(self, seq: int, timeout: float = 30) -> None:
        """Until the event with `seq` (or later) has been received."""

        def reached() -> bool:
            self.check()
            return self.last_seq >= seq

        await until(reached, timeout, f"{self.name}: seq {seq} (at {self.last_seq})")

    async def _run(self) -> None:
        first = True
        while not self._closing:
            ws: ClientConnection | None = None
            try:
                url = await self.ws_url()
                async with connect(url, open_timeout=10) as ws:
                    await self._handshake(ws, first)
                    first = False
                    self._ws = ws
                    self.backoff.reset()
                    self._connected.set()
                    async for raw in ws:
                        self._receive(json.loads(raw))
            except (InvalidURI, ProtocolViolation):
                raise
            except RECONNECT_ERRORS:
                pass
            self._connected.clear()
            self._ws = None
            if not self._closing:
                code = ws.close_code if ws is not None else None
                reason = (ws.close_reason or "") if ws is not None else ""
                self.drops.append((time.time(), code, reason))
                self.reconnects += 1
                # Jittered backoff, honouring the delay a draining node suggests.
                await asyncio.sleep(self.backoff.delay(code, reason))

    async def _handshake(self, ws: ClientConnection, first: bool) -> None:
        await self._expect(ws, "ready")
        if first and not self.events:
            await ws.send(json.dumps({"type": "join", "room": self.room}))
            self.base = (await self._expect(ws, "joined"))["last_seq"]
        else:
            await ws.send(json.dumps({"type": "resume", "room": self.room, "after": self.last_seq}))
            await self._expect(ws, "resumed")

    async def _expect(self, ws: ClientConnection, kind: str) -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if frame["type"] == kind:
                return frame
            self._receive(frame)

    def _receive(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if "seq" in frame and kind not in ("ack", "joined", "resumed"):
            if frame["seq"] != self.last_seq + 1:
                raise ProtocolViolation(
                    f"{self.name}: got {kind} seq {frame['seq']} after {self.last_seq}"
                )
            self.events.append(frame)
            if kind == "message":
                self.messages.append(frame)
        elif kind == "ack":
            self.acks[frame["client_id"]] = frame["seq"]
            if "id" in frame:
                self.ids[frame["client_id"]] = frame["id"]
            future = self._acked.get(frame["client_id"])
            if future is not None and not future.done():
                future.set_result(frame["seq"])
        elif kind == "error":
            raise ProtocolViolation(f"{self.name}: error frame {frame}")
