"""Send queues of a connection: direct writes and the ASGI fallback, both bounded."""

from __future__ import annotations

import asyncio
from typing import Any

from confab.chat.outgoing import Outgoing
from confab.chat.web.connection import AsgiConnection, DirectConnection


class FakeSocket:
    """The `confab.direct` extension, with a buffer that only grows (a reader that stalls)."""

    def __init__(self) -> None:
        self.written = b""
        self.closed: tuple[int, str] | None = None

    def write_frame(self, frame: bytes) -> int:
        if self.closed:
            return -1
        self.written += frame
        return len(self.written)

    def buffered(self) -> int:
        return len(self.written)

    def close_now(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)

    def set_send_buffer(self, size: int) -> None:
        pass


def test_direct_writes_the_wire_bytes_and_closes_a_slow_reader() -> None:
    sock = FakeSocket()
    conn = DirectConnection("ann", sock, limit=100)
    frame = Outgoing(b'{"type":"pong"}')
    conn.deliver(frame)
    assert sock.written == frame.wire
    conn.send(b"x" * 120)  # past the limit: cut off with 4009
    assert sock.closed == (4009, "send queue overflow")
    assert conn.closed
    before = sock.written
    conn.deliver(frame)  # dropped
    assert sock.written == before


def test_direct_notices_a_socket_that_went_away() -> None:
    sock = FakeSocket()
    sock.closed = (1000, "")
    conn = DirectConnection("ann", sock, limit=100)
    conn.deliver(Outgoing(b"{}"))
    assert conn.closed


async def test_asgi_queue_drains_through_a_writer_task_that_then_ends() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        sent.append(message)

    conn = AsgiConnection("ann", send, limit=10_000)
    conn.deliver(Outgoing(b'{"n":1}'))
    conn.deliver(Outgoing.batch([Outgoing(b'{"n":2}'), Outgoing(b'{"n":3}')]))
    assert conn.backlog() > 0
    for _ in range(10):
        await asyncio.sleep(0)
    assert [m["text"] for m in sent] == ['{"n":1}', '{"n":2}', '{"n":3}']
    assert conn._writer is None and conn.backlog() == 0
    await conn.drained(0)


async def test_asgi_overflow_closes_with_4009() -> None:
    sent: list[dict[str, Any]] = []
    stalled = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            await stalled.wait()  # the client stopped reading
        sent.append(message)

    conn = AsgiConnection("ann", send, limit=100)
    for _ in range(10):
        conn.deliver(Outgoing(b"y" * 30))
    for _ in range(5):
        await asyncio.sleep(0)
    assert conn.closed
    assert sent == [{"type": "websocket.close", "code": 4009, "reason": "send queue overflow"}]
