"""Two real chat nodes (`confab serve --roles chat`) on one PostgreSQL database and Redis.

A message sent on node A reaches a client on node B; presence, WebSocket rate limits and
sign-in throttling are shared; and when Redis restarts, a message sent while it was down
still reaches the other node's clients (the hub catches up from the database once the
bus is back), even though no later message comes to reveal the gap.

Redis is a private `redis-server` of this module (it is restarted); the database a fresh
one, migrated here (`upgrade_to_head`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bench.procs import CHEAP_PASSWORD_HASHING, MANY_USERS_ONE_ADDRESS
from websockets.asyncio.client import ClientConnection, connect

from confab.adapters.sql.migrate import upgrade_to_head
from tests.contract.chat_databases import postgres_database
from tests.contract.redis_servers import PrivateRedis, private_redis
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.tickets import ws_url
from tests.openapi_check import checked

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
ENV = {
    **CHEAP_PASSWORD_HASHING,
    **MANY_USERS_ONE_ADDRESS,
    "CONFAB_CHAT_PRESENCE_GRACE_SECONDS": "0.2",
    "CONFAB_CHAT_WS_RATE": "0.05",  # a token every 20 s: only the burst counts here
    "CONFAB_CHAT_WS_BURST": "30",
    "CONFAB_CHAT_SIGNIN_ATTEMPTS": "3",
    "CONFAB_LOG_LEVEL": "WARNING",
}


@dataclass
class Fleet:
    redis: PrivateRedis
    a: ServerHandle
    b: ServerHandle


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as server:
        yield server


@pytest.fixture
async def fleet(tmp_path: Path, redis_server: PrivateRedis) -> AsyncIterator[Fleet]:
    async with postgres_database() as database_url:
        await upgrade_to_head(database_url)
        env = {
            **ENV,
            "CONFAB_DATABASE_URL": database_url,
            "CONFAB_BUS_URL": redis_server.url(f"confab-{uuid.uuid4().hex[:8]}:"),
        }
        with ExitStack() as stack:
            nodes = [
                stack.enter_context(
                    confab_server(tmp_path / name, "--roles", "chat", command="serve", env=env)
                )
                for name in ("a", "b")
            ]
            yield Fleet(redis_server, nodes[0], nodes[1])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _account(node: ServerHandle, name: str) -> str:
    async with await checked(node.url, timeout=30) as http:
        body = {"username": name, "password": PASSWORD}
        assert (await http.post("/api/accounts", json=body)).status_code == 201
        response = await http.post("/api/tokens", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])


class Client:
    """A WebSocket client that keeps `message` frames aside while waiting for others."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame of type `kind` (others' presence and typing frames skipped)."""
        if kind == "message" and self.messages:
            return self.messages.pop(0)
        while True:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if frame["type"] == kind:
                return frame
            if frame["type"] == "message":
                self.messages.append(frame)
                continue
            assert frame["type"] in ("presence", "typing", "member_joined", "member_left"), frame

    async def presence(self, user: str) -> bool:
        while (frame := await self.next("presence"))["user"] != user:
            pass
        return bool(frame["online"])


@asynccontextmanager
async def _socket(node: ServerHandle, token: str) -> AsyncIterator[Client]:
    async with connect(await ws_url(node.url, token)) as ws:
        client = Client(ws)
        assert (await client.next("ready"))["type"] == "ready"
        yield client


async def test_messages_and_presence_cross_nodes_and_survive_a_redis_restart(
    fleet: Fleet,
) -> None:
    ann, bob = await _account(fleet.a, "ann"), await _account(fleet.b, "bob")
    async with await checked(fleet.a.url, timeout=30) as http:
        made = await http.post("/api/rooms", json={"name": "hall"}, headers=_auth(ann))
        assert made.status_code == 201, made.text
    async with await checked(fleet.b.url, timeout=30) as http:
        joined = await http.post("/api/rooms/hall/members", headers=_auth(bob))
        assert joined.status_code == 200, joined.text

    async with _socket(fleet.b, bob) as on_b:
        await on_b.send(type="join", room="hall")
        members = {m["user"]: m["online"] for m in (await on_b.next("joined"))["members"]}
        assert members == {"ann": False, "bob": True}
        async with _socket(fleet.a, ann) as on_a:
            await on_a.send(type="join", room="hall")
            joined_a = await on_a.next("joined")
            # bob's connection is on the other node: presence is shared.
            assert {m["user"]: m["online"] for m in joined_a["members"]} == {
                "ann": True,
                "bob": True,
            }
            assert await on_b.presence("ann") is True  # announced by A, through Redis

            # Sends on both nodes: everyone sees one order.
            for i in range(10):
                sender = on_a if i % 2 == 0 else on_b
                await sender.send(type="send", room="hall", text=f"m{i}", client_id=f"c{i}")
                await sender.next("ack")
            for ws in (on_a, on_b):
                seen = [await ws.next("message") for _ in range(10)]
                # bob joining took seq 1
                assert [m["seq"] for m in seen] == list(range(2, 12))
                assert [m["text"] for m in seen] == [f"m{i}" for i in range(10)]

            # Redis goes away: sending still works (stored, acked), nothing hangs.
            fleet.redis.kill()
            await on_a.send(type="send", room="hall", text="during", client_id="d1")
            ack = await on_a.next("ack", timeout=5)
            assert ack["seq"] == 12
            fleet.redis.start()
            # No later message: B's hub catches up from the database after reconnecting.
            for ws in (on_b, on_a):
                caught = await ws.next("message", timeout=20)
                assert (caught["seq"], caught["text"]) == (12, "during")
            await on_b.send(type="send", room="hall", text="after", client_id="a1")
            assert (await on_b.next("ack"))["seq"] == 13
            for ws in (on_a, on_b):
                assert (await ws.next("message", timeout=10))["seq"] == 13
        # ann's only connection closed on A: B's client learns it, after the grace period.
        assert await on_b.presence("ann") is False
    assert fleet.a.alive() and fleet.b.alive()


async def test_rate_limits_and_sign_in_throttling_are_shared(fleet: Fleet) -> None:
    cat = await _account(fleet.a, "cat")
    async with _socket(fleet.a, cat) as on_a, _socket(fleet.b, cat) as on_b:
        refused = 0
        for i in range(40):  # one bucket of 30 for both connections
            ws = on_a if i % 2 else on_b
            await ws.send(type="ping")
            frame = json.loads(await asyncio.wait_for(ws.ws.recv(), 10))
            if frame["type"] == "error":
                assert frame["code"] == "rate_limited"
                refused += 1
            else:
                assert frame["type"] == "pong"
        assert refused == 10  # frames on either node spend the one bucket
    wrong = {"username": "cat", "password": "wrong password!"}
    codes = []
    for node in (fleet.a, fleet.b, fleet.a, fleet.b):
        async with await checked(node.url, timeout=30) as http:
            codes.append((await http.post("/api/tokens", json=wrong)).status_code)
    # Three failures a window, counted on both nodes (cat's successful sign-in in `_account`
    # counted nothing).
    assert codes == [401, 401, 401, 429]


async def test_a_kick_published_while_the_victims_node_reconnects_still_ends_delivery(
    fleet: Fleet,
) -> None:
    """Issue 14's cross-node hole: the removal is lost on the bus, B's hub repairs it."""
    ann, dan = await _account(fleet.a, "ann2"), await _account(fleet.b, "dan")
    async with await checked(fleet.a.url, timeout=30) as http:
        assert (await http.post("/api/rooms", json={"name": "yard"}, headers=_auth(ann))).is_success
    async with await checked(fleet.b.url, timeout=30) as http:
        assert (await http.post("/api/rooms/yard/members", headers=_auth(dan))).is_success
    async with _socket(fleet.b, dan) as on_b, _socket(fleet.a, ann) as on_a:
        for ws in (on_a, on_b):
            await ws.send(type="join", room="yard")
            await ws.next("joined")
        fleet.redis.kill()
        async with await checked(fleet.a.url, timeout=30) as http:
            kicked = await http.delete("/api/rooms/yard/members/dan", headers=_auth(ann))
            assert kicked.status_code == 204
        await on_a.send(type="send", room="yard", text="not for dan", client_id="s1")
        removal = (await on_a.next("ack", timeout=5))["seq"] - 1
        fleet.redis.start()
        frames: list[dict[str, Any]] = []
        while not any(f["type"] == "member_left" for f in frames):
            frames.append(json.loads(await asyncio.wait_for(on_b.ws.recv(), 20)))
        assert next(f for f in frames if f["type"] == "member_left")["seq"] == removal
        await on_a.send(type="send", room="yard", text="after", client_id="s2")
        await on_a.next("ack")
        while (await on_a.next("message"))["text"] != "after":
            pass
        await on_b.send(type="ping")
        while (frame := json.loads(await asyncio.wait_for(on_b.ws.recv(), 10)))["type"] != "pong":
            frames.append(frame)
        leaked = [f for f in frames if f.get("room") == "yard" and f.get("seq", 0) > removal]
        assert leaked == []
