"""A test's view of a chat server over HTTP and WebSocket (shared by the chat e2e tests).

Every HTTP response goes through the OpenAPI check (`tests.openapi_check`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING, MANY_USERS_ONE_ADDRESS
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.tickets import ws_url
from tests.openapi_check import checked_client, openapi_checker

PASSWORD = "correct horse battery"
# Frames a test did not ask about (others coming and going) are skipped by `expect`.
NOISE = ("presence", "typing", "member_joined", "room_added", "read")
ENV = {
    **CHEAP_PASSWORD_HASHING,
    **MANY_USERS_ONE_ADDRESS,
    "CONFAB_DATABASE_SQLITE_SYNCHRONOUS": "NORMAL",
    "CONFAB_CHAT_WS_RATE": "200",
    "CONFAB_CHAT_WS_BURST": "400",
    "CONFAB_CHAT_WS_SEND_BUFFER_BYTES": "65536",
    "CONFAB_CHAT_WS_KERNEL_SEND_BUFFER_BYTES": "16384",
    "CONFAB_CHAT_PRESENCE_GRACE_SECONDS": "0.3",
    "CONFAB_CHAT_LARGE_ROOM_MEMBERS": "3",  # rooms of 4 and more count as large here
    "CONFAB_LOG_LEVEL": "WARNING",
}


@contextmanager
def chat_node(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[ServerHandle]:
    """A chat-only node (`confab serve --roles chat`) with `ENV`, on a fresh data dir."""
    data = tmp_path_factory.mktemp(name) / "data"
    with confab_server(data, "--roles", "chat", command="serve", env=ENV) as handle:
        yield handle


@dataclass
class Chat:
    """A test's view of the server: accounts, rooms, sockets."""

    server: ServerHandle
    http: httpx.AsyncClient

    async def user(self) -> tuple[str, str]:
        """A new account: (username, token)."""
        name = f"u{uuid.uuid4().hex[:10]}"
        body = {"username": name, "password": PASSWORD}
        assert (await self.http.post("/api/accounts", json=body)).status_code == 201
        token = (await self.http.post("/api/tokens", json=body)).json()["token"]
        return name, str(token)

    async def token(self, name: str) -> str:
        """Another session token of the account `name` (another device)."""
        body = {"username": name, "password": PASSWORD}
        return str((await self.http.post("/api/tokens", json=body)).json()["token"])

    async def room(self, owner: str, *members: str) -> str:
        """A new public room owned by token `owner`, joined by the `members` tokens."""
        name = f"r{uuid.uuid4().hex[:10]}"
        response = await self.http.post("/api/rooms", json={"name": name}, headers=auth(owner))
        assert response.status_code == 201, response.text
        for token in members:
            joined = await self.http.post(f"/api/rooms/{name}/members", headers=auth(token))
            assert joined.status_code == 200, joined.text
        return name

    async def url(self, token: str) -> str:
        """A `/ws` URL with a fresh one-time ticket of `token`'s session."""
        return await ws_url(self.server.url, token)

    @asynccontextmanager
    async def socket(self, token: str, **options: Any) -> AsyncIterator[ClientConnection]:
        """A connected socket past its `ready` frame."""
        async with connect(await self.url(token), **options) as ws:
            assert (await expect(ws, "ready"))["type"] == "ready"
            yield ws


def metrics(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text page."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def open_chat(server: ServerHandle) -> AsyncIterator[Chat]:
    """A `Chat` whose HTTP client checks every response against the OpenAPI document."""
    checker = await openapi_checker(server.url)
    async with checked_client(server.url, checker, timeout=30) as http:
        yield Chat(server, http)


async def send_json(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(json.dumps(frame))


async def expect(
    ws: ClientConnection, kind: str, *, timeout: float = 5.0, skip: tuple[str, ...] = NOISE
) -> dict[str, Any]:
    """The next frame of type `kind`, skipping `skip` types; anything else fails the test."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame
        assert frame["type"] in skip, f"expected {kind}, got {frame}"


async def presence_of(ws: ClientConnection, user: str) -> dict[str, Any]:
    """The next presence frame about `user` (others' are skipped)."""
    while (frame := await expect(ws, "presence"))["user"] != user:
        pass
    return frame


async def join(ws: ClientConnection, room: str) -> dict[str, Any]:
    await send_json(ws, type="join", room=room)
    return await expect(ws, "joined")


async def quiet(ws: ClientConnection, keep: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Frames received until a ping's pong, but `NOISE` not in `keep`."""
    await send_json(ws, type="ping")
    frames = []
    while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "pong":
        if frame["type"] not in NOISE or frame["type"] in keep:
            frames.append(frame)
    return frames
