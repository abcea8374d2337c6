"""The chat load generator's reconnect (bench/chat/loadgen.py with `reconnect`).

A small in-process WebSocket server speaks Confab's frames (ready, join, joined) and
closes connections the way a draining node does; the generator's delays run on a
ManualClock, the sockets are real.
"""

from __future__ import annotations

import json

from bench.chat.loadgen import Config, Generator
from websockets.asyncio.server import ServerConnection, serve

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


def generator(port: int, clock: ManualClock, *, reconnect: bool = True) -> Generator:
    config = Config(
        host="127.0.0.1", port=port, dialect="websockets", tokens=["alice"], reconnect=reconnect
    )
    return Generator(config, clock=clock)


async def test_a_client_closed_by_a_drain_comes_back_after_the_suggested_delay() -> None:
    peer = DrainingPeer(drained=1, retry_ms=800)
    async with serve(peer.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        clock = ManualClock()
        gen = generator(port, clock)
        try:
            assert await gen.open(1) == {}
            first = gen.conns[0]
            await until(lambda: first.closed, 10, "the peer's close frame")
            assert first.close_code == DRAIN_CLOSE_CODE
            assert parse_retry_ms(first.close_reason) == 800
            await clock.advance(0.79)  # the suggested delay is not over: nobody comes back
            assert clock.pending() == 1  # the client waits on its timer
            assert peer.joins == 1 and gen.reconnects == 0
            await clock.advance(0.26)  # 800 ms plus at most a quarter second of jitter
            await until(lambda: gen.reconnects == 1, 10, "the client back in the room")
            assert peer.joins == 2
            back = gen.conns[0]
            assert back is not first and back.index == first.index
            assert gen.open_conns() == [back]
        finally:
            gen.close()


async def test_failed_attempts_back_off_and_a_finished_run_does_not_reconnect() -> None:
    peer = DrainingPeer(drained=1, retry_ms=0)
    async with serve(peer.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        clock = ManualClock()
        gen = generator(port, clock)
        try:
            assert await gen.open(1) == {}
            first = gen.conns[0]
            await until(lambda: first.closed, 10, "the peer's close frame")
            server.close()  # the next attempt finds nobody listening
            await server.wait_closed()
            await clock.advance(0.25)  # retry_ms=0 plus jitter: the first attempt fails
            await until(lambda: gen.backoffs[0].attempt == 2, 10, "a failed attempt")
            assert gen.reconnects == 0
        finally:
            gen.close()
        await clock.advance(60)
        assert clock.pending() == 0  # a closed generator left nothing waiting to reconnect
        assert gen.reconnects == 0
