"""The chat load generator's reconnect (bench/chat/loadgen.py with `reconnect`).

A small in-process WebSocket server speaks Confab's frames (ready, join, joined) and
closes connections the way a draining node does; the generator's delays run on a
ManualClock, the sockets are real.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bench.chat.loadgen import Config, Generator
from bench.chat.wsclient import Conn
from websockets.asyncio.server import Server, ServerConnection, serve

from confab.core.clock import ManualClock
from confab.node.drain import DRAIN_CLOSE_CODE, close_reason, parse_retry_ms
from tests.polling import until


def compact(frame: dict[str, object]) -> str:
    """A frame as Confab encodes it (the client matches `"type":"..."` bytes)."""
    return json.dumps(frame, separators=(",", ":"))


class DrainingPeer:
    """Greets, answers a join, then closes the first `drained` connections with 1012."""

    def __init__(self, drained: int, retry_ms: int) -> None:
        self.drained = drained
        self.retry_ms = retry_ms
        self.joins = 0

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send(compact({"type": "ready"}))
        frame = json.loads(await ws.recv())
        assert frame["type"] == "join"
        await ws.send(compact({"type": "joined", "room": frame["room"], "last_seq": 0}))
        self.joins += 1
        if self.joins <= self.drained:
            await ws.close(DRAIN_CLOSE_CODE, close_reason(self.retry_ms))
        else:
            await ws.wait_closed()


@dataclass
class Drained:
    """A generator whose one client the peer has just closed with 1012."""

    peer: DrainingPeer
    server: Server
    clock: ManualClock
    gen: Generator
    first: Conn


@asynccontextmanager
async def drained_client(retry_ms: int) -> AsyncIterator[Drained]:
    """One client opened through a real socket, then drained by the peer (`retry_ms`)."""
    peer = DrainingPeer(drained=1, retry_ms=retry_ms)
    async with serve(peer.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        clock = ManualClock()
        config = Config(
            host="127.0.0.1", port=port, dialect="websockets", tokens=["alice"], reconnect=True
        )
        gen = Generator(config, clock=clock)
        try:
            assert await gen.open(1) == {}
            first = gen.conns[0]
            await until(lambda: first.closed, 10, "the peer's close frame")
            yield Drained(peer, server, clock, gen, first)
        finally:
            gen.close()


async def test_a_client_closed_by_a_drain_comes_back_after_the_suggested_delay() -> None:
    async with drained_client(retry_ms=800) as d:
        assert d.first.close_code == DRAIN_CLOSE_CODE
        assert parse_retry_ms(d.first.close_reason) == 800
        await d.clock.advance(0.79)  # the suggested delay is not over: nobody comes back
        assert d.clock.pending() == 1  # the client waits on its timer
        assert d.peer.joins == 1 and d.gen.reconnects == 0
        await d.clock.advance(0.26)  # 800 ms plus at most a quarter second of jitter
        await until(lambda: d.gen.reconnects == 1, 10, "the client back in the room")
        assert d.peer.joins == 2
        back = d.gen.conns[0]
        assert back is not d.first and back.index == d.first.index
        assert d.gen.open_conns() == [back]


async def test_failed_attempts_back_off_and_a_finished_run_does_not_reconnect() -> None:
    async with drained_client(retry_ms=0) as d:
        d.server.close()  # the next attempt finds nobody listening
        await d.server.wait_closed()
        await d.clock.advance(0.25)  # retry_ms=0 plus jitter: the first attempt fails
        await until(lambda: d.gen.backoffs[0].attempt == 2, 10, "a failed attempt")
        assert d.gen.reconnects == 0
    await d.clock.advance(60)
    assert d.clock.pending() == 0  # a closed generator left nothing waiting to reconnect
    assert d.gen.reconnects == 0
