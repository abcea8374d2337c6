"""The chat WebSocket endpoint under a stock ASGI server (uvicorn's own WebSocket protocol).

Confab's node runs its own protocol with a direct write path; any other server goes
through plain ASGI `send`/`receive`. This checks that path end to end (SQLite store).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect

from confab.bootstrap import assemble
from confab.core.settings import Settings
from tests.conftest import free_port
from tests.e2e.tickets import ws_url
from tests.openapi_check import checked
from tests.polling import until

PASSWORD = "correct horse battery"


@pytest.fixture
async def base_url(tmp_path: Path) -> AsyncIterator[str]:
    settings = Settings(
        roles=["chat"],
        data_dir=tmp_path,
        chat_password_time_cost=1,
        chat_password_memory_kib=1024,
    )
    node = await assemble(settings)
    port = free_port()
    config = uvicorn.Config(
        node.app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        lifespan="off",
        log_config=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, 10, "uvicorn started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await node.aclose()


async def _token(http: httpx.AsyncClient, name: str) -> str:
    body = {"username": name, "password": PASSWORD}
    assert (await http.post("/api/accounts", json=body)).status_code == 201
    return str((await http.post("/api/tokens", json=body)).json()["token"])


async def test_join_send_and_errors_through_plain_asgi(base_url: str) -> None:
    async with await checked(base_url, timeout=30) as http:
        ann, bob = await _token(http, "ann"), await _token(http, "bob")
        headers = {"Authorization": f"Bearer {ann}"}
        assert (await http.post("/api/rooms", json={"name": "hall"}, headers=headers)).is_success
        joined = await http.post(
            "/api/rooms/hall/members", headers={"Authorization": f"Bearer {bob}"}
        )
        assert joined.is_success
    ann_url, bob_url = await ws_url(base_url, ann), await ws_url(base_url, bob)
    async with connect(ann_url) as a, connect(bob_url) as b:
        for ws in (a, b):
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(json.dumps({"type": "join", "room": "hall"}))
            assert json.loads(await ws.recv())["type"] == "joined"
        await a.send(json.dumps({"type": "send", "room": "hall", "text": "hi", "client_id": "c1"}))
        got = {}
        while len(got) < 2:
            frame = json.loads(await asyncio.wait_for(a.recv(), 5))
            if frame["type"] in ("ack", "message"):
                got[frame["type"]] = frame
        assert got["ack"]["seq"] == got["message"]["seq"] == 2  # after bob's member_joined
        while (frame := json.loads(await asyncio.wait_for(b.recv(), 5)))["type"] != "message":
            pass
        assert frame["text"] == "hi"
        await b.send("{bad")
        assert json.loads(await b.recv())["code"] == "invalid_json"
        await b.send(json.dumps({"type": "ping"}))
        while json.loads(await asyncio.wait_for(b.recv(), 5))["type"] != "pong":
            pass
