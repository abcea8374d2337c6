"""Confab's uvicorn WebSocket protocol against a real uvicorn server and `websockets` clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from confab.chat.outgoing import text_frame
from confab.node.websocket import DIRECT_EXTENSION, WebSocketProtocol
from tests.conftest import free_port
from tests.polling import until

closed_codes: list[int] = []


class Echo:
    """A detached handler: echoes through the direct path, closes on request."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock

    def on_message(self, data: str | bytes) -> None:
        text = data if isinstance(data, str) else data.decode()
        if text.startswith("close:"):
            self.sock.close_now(int(text[6:]), "asked")
        else:
            self.sock.write_frame(text_frame(f"echo:{text}".encode()))

    def on_close(self, code: int) -> None:
        closed_codes.append(code)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    path = scope["path"]
    if path == "/reject":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.accept", "headers": [(b"x-test", b"yes")]})
    if path == "/crash":
        raise RuntimeError("boom")
    if path == "/return":
        return
    if path == "/direct":
        sock = scope["extensions"][DIRECT_EXTENSION]
        assert sock.write_frame(text_frame(b"hello")) >= 0
        sock.detach(Echo(sock))
        return
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        if event.get("text") is not None:
            await send({"type": "websocket.send", "text": event["text"]})
        else:
            await send({"type": "websocket.send", "bytes": event["bytes"]})


@dataclass
class Running:
    url: str
    server: uvicorn.Server


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws=WebSocketProtocol,
        ws_max_size=4096,
        ws_ping_interval=0.4,
        lifespan="off",
        log_config=None,
    )
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    await until(lambda: srv.started, 10, "uvicorn started")
    yield Running(f"ws://127.0.0.1:{port}", srv)
    srv.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
def server(running: Running) -> str:
    return running.url


async def test_asgi_echo_of_text_binary_and_fragments(server: str) -> None:
    async with connect(f"{server}/echo") as ws:
        assert ws.response.headers["x-test"] == "yes"
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"
        await ws.send(["frag", "mented"])
        assert await ws.recv() == "fragmented"


async def test_closing_before_accept_refuses_the_handshake(server: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"{server}/reject"):
            pass
    assert info.value.response.status_code == 403


async def test_app_errors_and_returns_close_the_socket_properly(server: str) -> None:
    async with connect(f"{server}/crash") as ws:
        with pytest.raises(ConnectionClosed) as crashed:
            await ws.recv()
    assert crashed.value.rcvd is not None and crashed.value.rcvd.code == 1011
    async with connect(f"{server}/return") as ws:
        with pytest.raises(ConnectionClosed) as returned:
            await ws.recv()
    assert returned.value.rcvd is not None and returned.value.rcvd.code == 1000


async def test_direct_frames_and_a_detached_handler(server: str) -> None:
    closed_codes.clear()
    async with connect(f"{server}/direct") as ws:
        assert await ws.recv() == "hello"
        for i in range(20):
            await ws.send(f"m{i}")
        assert [await ws.recv() for _ in range(20)] == [f"echo:m{i}" for i in range(20)]
        await ws.send("close:4009")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4009
    await until(lambda: closed_codes, 5, "the close reported")
    assert closed_codes == [4009]


async def test_a_client_closing_a_detached_connection_is_reported_once(server: str) -> None:
    closed_codes.clear()
    async with connect(f"{server}/direct") as ws:
        assert await ws.recv() == "hello"
    await until(lambda: closed_codes, 5, "the close reported")
    assert closed_codes == [1000]


async def test_oversized_and_invalid_utf8_messages_fail_the_connection(server: str) -> None:
    async with connect(f"{server}/echo", max_size=None) as ws:
        await ws.send("x" * 5000)
        with pytest.raises(ConnectionClosed) as big:
            await ws.recv()
    assert big.value.rcvd is not None and big.value.rcvd.code == 1009
    async with connect(f"{server}/echo") as ws:
        await ws.send(b"\xff\xfe", text=True)
        with pytest.raises(ConnectionClosed) as bad:
            await ws.recv()
    assert bad.value.rcvd is not None and bad.value.rcvd.code == 1007


async def test_a_silent_peer_is_dropped_and_a_live_one_kept(server: str) -> None:
    host, port = server.removeprefix("ws://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    async with connect(f"{server}/echo", ping_interval=None) as live:
        # Never answer pings: gone after about two ping intervals (0.4 s).
        data = await asyncio.wait_for(reader.read(), 3)  # reads until the server closes
        assert data[0] == 0x89  # a ping first
        assert b"\x88" in data  # then the close frame (1011)
        await live.send("still here")
        assert await live.recv() == "still here"
    writer.close()


async def test_shutdown_closes_with_1012(running: Running) -> None:
    ws = await connect(f"{running.url}/echo")
    waiting = asyncio.create_task(ws.recv())
    await asyncio.sleep(0)  # the client is reading: the handshake is long done
    running.server.should_exit = True
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(waiting, 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1012


async def test_a_client_busy_sending_still_gets_the_1012_close_frame(running: Running) -> None:
    # Closing the socket right after the close frame, with the client's frames unread,
    # makes the kernel send a reset, and the client sees 1006 instead of the close frame.
    clients = [await connect(f"{running.url}/echo", max_queue=None) for _ in range(4)]

    async def flood(ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send("x" * 2000)

    floods = [asyncio.create_task(flood(ws)) for ws in clients]
    await asyncio.sleep(0.2)
    running.server.should_exit = True
    for ws in clients:
        await asyncio.wait_for(ws.wait_closed(), 10)
        rcvd = ws.protocol.close_rcvd
        assert rcvd is not None and rcvd.code == 1012, ws.close_code
    await asyncio.gather(*floods)
