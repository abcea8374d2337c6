"""The day's clients: WebSocket users who join a room, talk, leave, and check what they get.

Each client asks for a one-time ticket (`POST /api/ws-tickets`: the session token never
goes into a URL), connects through nginx with it, joins its room (or resumes after a drop,
from the last `seq` it saw), sends a message every `1/rate` seconds (jittered) and re-sends
one that was not acknowledged with the same `client_id` after a reconnect (the server
keeps it once).
What it receives is checked against the room's order: a `seq` skipped is a lost message,
a `seq` seen again is a duplicate. Each message carries its send time, so every delivery
gives a latency sample. Reconnects back off with jitter (bench/reconnect.py), honouring
the delay a draining node suggests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from bench.reconnect import Backoff
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

DROPS = (ConnectionClosed, OSError, InvalidHandshake, asyncio.TimeoutError)
# A ticket that could not be had (no node answers, or one refused): retried like a drop.
TICKET_DROPS = (httpx.HTTPError, KeyError, ValueError)

# Asks the fleet for a new one-time ticket (`tests/e2e/tickets.issue_ticket`, bound).
Tickets = Callable[[], Awaitable[str]]


@dataclass
class Tally:
    """What every client saw, together."""

    latencies: list[tuple[float, float]] = field(default_factory=list)  # (recv time, ms)
    lost: int = 0
    duplicated: int = 0
    reconnects: int = 0
    sent: int = 0
    acked: dict[str, int] = field(default_factory=dict)  # client_id -> seq
    room_last: dict[str, int] = field(default_factory=dict)  # highest acked seq per room


class LoadClient:
    """One user in one room, for as long as the day's curve keeps it connected."""

    def __init__(
        self,
        base_ws: str,
        tickets: Tickets,
        room: str,
        name: str,
        rate: float,
        tally: Tally,
        rng: random.Random,
    ) -> None:
        self.base_ws = base_ws
        self.tickets = tickets
        self.room = room
        self.name = name
        self.rate = rate
        self.tally = tally
        self.rng = rng
        self.last_seq: int | None = None
        self.backoff = Backoff(rng=rng)
        self._ws: ClientConnection | None = None
        self._up = asyncio.Event()
        self._stopping = False
        self._pending: dict[str, asyncio.Future[int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._counter = 0

    def start(self) -> None:
        """Connect, then talk until `stop`."""
        self._tasks = [asyncio.create_task(self._connection()), asyncio.create_task(self._talk())]

    async def stop(self) -> None:
        """Leave: finish the message in flight, close the socket."""
        self._stopping = True
        for task in self._tasks[1:]:
            task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self) -> None:
        while not self._stopping:
            ws: ClientConnection | None = None
            try:
                url = f"{self.base_ws}/ws?ticket={await self.tickets()}"
                async with connect(url, open_timeout=10, max_queue=None) as ws:
                    await self._handshake(ws)
                    self._ws = ws
                    self.backoff.reset()
                    self._up.set()
                    async for raw in ws:
                        self._receive(json.loads(raw))
            except (*DROPS, *TICKET_DROPS):
                pass
            self._up.clear()
            self._ws = None
            if self._stopping:
                return
            self.tally.reconnects += 1
            code = ws.close_code if ws is not None else None
            reason = (ws.close_reason or "") if ws is not None else ""
            await asyncio.sleep(self.backoff.delay(code, reason))

    async def _handshake(self, ws: ClientConnection) -> None:
        await self._expect(ws, "ready")
        if self.last_seq is None:
            await ws.send(json.dumps({"type": "join", "room": self.room}))
            joined = await self._expect(ws, "joined")
            if self.last_seq is None:
                self.last_seq = int(joined["last_seq"])
        else:
            frame = {"type": "resume", "room": self.room, "after": self.last_seq}
            await ws.send(json.dumps(frame))
            await self._expect(ws, "resumed")

    async def _expect(self, ws: ClientConnection, kind: str) -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if frame.get("type") == kind:
                return frame
            self._receive(frame)

    def _receive(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            seq = int(frame["seq"])
            last = self.last_seq
            if last is None:
                self.last_seq = seq
            elif seq <= last:
                self.tally.duplicated += 1
                return
            else:
                self.tally.lost += seq - last - 1
                self.last_seq = seq
            sent_at = _sent_at(str(frame.get("text", "")))
            if sent_at is not None:
                now = time.time()
                self.tally.latencies.append((now, (now - sent_at) * 1000))
        elif kind == "ack":
            future = self._pending.get(str(frame["client_id"]))
            if future is not None and not future.done():
                future.set_result(int(frame["seq"]))

    async def _talk(self) -> None:
        # Start at a random point of the interval: clients do not send in step.
        await asyncio.sleep(self.rng.random() / self.rate)
        while not self._stopping:
            self._counter += 1
            client_id = f"{self.name}-{self._counter}"
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._pending[client_id] = future
            text = f"{time.time():.6f} {client_id}"
            while not future.done() and not self._stopping:
                await self._up.wait()
                ws = self._ws
                if ws is None:
                    continue
                frame = {"type": "send", "room": self.room, "text": text, "client_id": client_id}
                try:
                    await ws.send(json.dumps(frame))
                    self.tally.sent += 1
                    await asyncio.wait_for(asyncio.shield(future), 10)
                except DROPS:
                    continue
            del self._pending[client_id]
            if future.done():
                seq = future.result()
                self.tally.acked[client_id] = seq
                room_last = self.tally.room_last
                room_last[self.room] = max(room_last.get(self.room, 0), seq)
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) / self.rate)

    async def settle(self, timeout: float) -> int:
        """Wait until this client saw its room's last acked seq; the messages still missing."""
        deadline = time.monotonic() + timeout
        want = self.tally.room_last.get(self.room, 0)
        while (self.last_seq or 0) < want and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polls the receive loop's progress, end of run only
        return max(0, want - (self.last_seq or 0))


def _sent_at(text: str) -> float | None:
    head = text.split(" ", 1)[0]
    try:
        return float(head)
    except ValueError:
        return None
