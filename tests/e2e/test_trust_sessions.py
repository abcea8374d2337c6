"""A live connection follows its session (issue 11, part 1), on two chat nodes sharing
PostgreSQL and a Redis bus: sign-out, revocation, sign-out everywhere, password change
and token expiry close the open WebSockets within a second on both nodes, HTTP refuses
the token from then on, and a socket ticket works once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING, MANY_USERS_ONE_ADDRESS, sync_postgres_database
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from confab.adapters.sql.migrate import upgrade_to_head
from tests.contract.redis_servers import private_redis
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.tickets import ws_url

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
TTL = 8  # seconds: long enough for the other tests, short enough to watch expire
ENV = {
    **CHEAP_PASSWORD_HASHING,
    **MANY_USERS_ONE_ADDRESS,
    "CONFAB_CHAT_TOKEN_TTL_SECONDS": str(TTL),
    "CONFAB_CHAT_WS_MAX_PER_USER": "3",
    "CONFAB_LOG_LEVEL": "WARNING",
}
CLOSE_SESSION_ENDED = 4001


@dataclass
class Fleet:
    a: ServerHandle
    b: ServerHandle


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("sessions")
    with ExitStack() as stack:
        redis = stack.enter_context(private_redis(root))
        plain_url = stack.enter_context(sync_postgres_database())
        database_url = plain_url.replace("postgresql://", "postgresql+asyncpg://")
        asyncio.run(upgrade_to_head(database_url))
        env = {
            **ENV,
            "CONFAB_DATABASE_URL": database_url,
            "CONFAB_BUS_URL": redis.url(f"confab-{uuid.uuid4().hex[:8]}:"),
        }
        a, b = (
            stack.enter_context(
                confab_server(root / name, "--roles", "chat", command="serve", env=env)
            )
            for name in ("a", "b")
        )
        yield Fleet(a, b)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _account(node: ServerHandle) -> tuple[str, str]:
    name = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": name, "password": PASSWORD}
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        assert (await http.post("/api/accounts", json=body)).status_code == 201
    return name, await _sign_in(node, name)


async def _sign_in(node: ServerHandle, name: str, password: str = PASSWORD) -> str:
    body = {"username": name, "password": password}
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        signed = await http.post("/api/tokens", json=body)
    assert signed.status_code == 200, signed.text
    return str(signed.json()["token"])


async def _open(node: ServerHandle, token: str) -> ClientConnection:
    ws = await connect(await ws_url(node.url, token))
    assert b'"ready"' in (await ws.recv()).encode()
    return ws


async def _closed_with(ws: ClientConnection, within: float) -> int | None:
    """The close code the server sends within `within` seconds (reading what comes)."""
    with pytest.raises(ConnectionClosed) as info:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    return info.value.rcvd.code if info.value.rcvd else None


async def _still_open(ws: ClientConnection) -> bool:
    await ws.send('{"type":"ping"}')
    async with asyncio.timeout(5):
        while b'"pong"' not in (await ws.recv()).encode():
            pass
    return True


async def _http_status(node: ServerHandle, token: str) -> int:
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        return (await http.get("/api/rooms", headers=_auth(token))).status_code


async def test_sign_out_closes_the_sessions_sockets_on_both_nodes_at_once(fleet: Fleet) -> None:
    name, token = await _account(fleet.a)
    other = await _sign_in(fleet.b, name)  # another device of the same user
    on_a, on_b, other_on_b = (
        await _open(fleet.a, token),
        await _open(fleet.b, token),
        await _open(fleet.b, other),
    )
    async with httpx.AsyncClient(base_url=fleet.a.url, timeout=30) as http:
        assert (await http.delete("/api/tokens/current", headers=_auth(token))).status_code == 204
    closes = await asyncio.gather(_closed_with(on_a, 1.0), _closed_with(on_b, 1.0))
    assert closes == [CLOSE_SESSION_ENDED, CLOSE_SESSION_ENDED]
    assert await _http_status(fleet.b, token) == 401
    assert await _still_open(other_on_b)  # the other device's session goes on
    await other_on_b.close()


async def test_a_ticket_works_once(fleet: Fleet) -> None:
    _, token = await _account(fleet.a)
    url = await ws_url(fleet.a.url, token)
    async with connect(url):
        pass
    for node in (fleet.a, fleet.b):  # neither node takes it again
        with pytest.raises(InvalidStatus) as refused:
            async with connect(node.url.replace("http", "ws", 1) + url[url.index("/ws") :]):
                pass
        assert refused.value.response.status_code == 403


async def test_tokens_are_listed_and_revoked_per_device_and_everywhere(fleet: Fleet) -> None:
    name, phone = await _account(fleet.a)
    laptop = await _sign_in(fleet.b, name)
    tablet = await _sign_in(fleet.a, name)
    async with httpx.AsyncClient(base_url=fleet.b.url, timeout=30) as http:
        listed = (await http.get("/api/tokens", headers=_auth(laptop))).json()["tokens"]
        assert len(listed) == 3 and sum(t["current"] for t in listed) == 1
        for shown in listed:
            assert set(shown) == {"id", "created_at", "expires_at", "current"}
            assert shown["id"] not in (phone, laptop, tablet)
        phone_id = next(t["id"] for t in listed if not t["current"] and t is listed[0])
        phone_ws, laptop_ws = await _open(fleet.a, phone), await _open(fleet.b, laptop)
        revoked = await http.delete(f"/api/tokens/{phone_id}", headers=_auth(laptop))
        assert revoked.status_code == 204
        assert await _closed_with(phone_ws, 1.0) == CLOSE_SESSION_ENDED
        assert await _still_open(laptop_ws)
        assert (
            await http.delete("/api/tokens/0123456789abcdef", headers=_auth(laptop))
        ).status_code == 404
        tablet_ws = await _open(fleet.a, tablet)
        assert (await http.delete("/api/tokens", headers=_auth(laptop))).status_code == 204
        closes = await asyncio.gather(_closed_with(laptop_ws, 1.0), _closed_with(tablet_ws, 1.0))
        assert closes == [CLOSE_SESSION_ENDED, CLOSE_SESSION_ENDED]
        for token in (phone, laptop, tablet):
            assert await _http_status(fleet.a, token) == 401


async def test_a_password_change_ends_every_session(fleet: Fleet) -> None:
    name, token = await _account(fleet.a)
    ws = await _open(fleet.b, token)
    change = {"current": PASSWORD, "new": "a brand new password"}
    async with httpx.AsyncClient(base_url=fleet.a.url, timeout=30) as http:
        wrong = await http.put(
            "/api/accounts/me/password", headers=_auth(token), json={**change, "current": "nope"}
        )
        assert wrong.status_code == 401
        changed = await http.put("/api/accounts/me/password", headers=_auth(token), json=change)
        assert changed.status_code == 204
    assert await _closed_with(ws, 1.0) == CLOSE_SESSION_ENDED
    assert await _http_status(fleet.a, token) == 401
    await _sign_in(fleet.b, name, "a brand new password")


async def test_deactivation_ends_every_session_and_sign_in(fleet: Fleet) -> None:
    name, token = await _account(fleet.a)
    ws = await _open(fleet.b, token)
    async with httpx.AsyncClient(base_url=fleet.a.url, timeout=30) as http:
        gone = await http.post(
            "/api/accounts/me/deactivate", headers=_auth(token), json={"password": PASSWORD}
        )
        assert gone.status_code == 204
        assert await _closed_with(ws, 1.0) == CLOSE_SESSION_ENDED
        again = await http.post("/api/tokens", json={"username": name, "password": PASSWORD})
        assert again.status_code == 401


async def test_expiry_closes_the_sockets_on_both_nodes(fleet: Fleet) -> None:
    _, token = await _account(fleet.a)
    async with httpx.AsyncClient(base_url=fleet.a.url, timeout=30) as http:
        (listed,) = [
            t for t in (await http.get("/api/tokens", headers=_auth(token))).json()["tokens"]
        ]
    expires = time.time() + TTL  # an upper bound: the token was made before this
    on_a, on_b = await _open(fleet.a, token), await _open(fleet.b, token)
    wait = max(0.0, expires - time.time()) + 1.0
    closes = await asyncio.gather(_closed_with(on_a, wait), _closed_with(on_b, wait))
    assert closes == [CLOSE_SESSION_ENDED, CLOSE_SESSION_ENDED]
    assert await _http_status(fleet.b, token) == 401
    assert listed["current"]


async def test_sockets_per_user_are_capped(fleet: Fleet) -> None:
    _, token = await _account(fleet.a)
    held = [await _open(fleet.a, token) for _ in range(3)]
    over = await connect(await ws_url(fleet.a.url, token))
    assert await _closed_with(over, 5.0) == 4029
    await held[0].close()
    await asyncio.sleep(0.2)  # the server sees the close (not a timing assertion)
    replacement = await _open(fleet.a, token)
    for ws in [*held[1:], replacement]:
        await ws.close()
