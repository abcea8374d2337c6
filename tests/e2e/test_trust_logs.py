"""No replayable secret in any log line (issue 11): over a whole session through nginx
(sign-up, sign-in, a WebSocket from a ticket, messages, an upload with a grant, tokens
listed and revoked, sign-out), neither Confab's log nor nginx's access and error logs hold
a session token, a WebSocket ticket or an upload grant."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING
from websockets.asyncio.client import connect

from tests.conftest import skip_or_fail
from tests.deploy.nginx import NginxHandle, nginx_binary, running_nginx
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.sources import jpeg

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


@pytest.fixture
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, NginxHandle]]:
    if nginx_binary() is None:
        skip_or_fail("nginx is not installed")
    env = {
        **CHEAP_PASSWORD_HASHING,
        # Every request logged, at the most talkative level.
        "CONFAB_LOG_LEVEL": "DEBUG",
        "CONFAB_TRUSTED_PROXIES": "127.0.0.1/32",
        "CONFAB_MEDIA_RENDER_PROCESSES": "1",
    }
    with confab_server(tmp_path_factory.mktemp("logs") / "data", env=env) as node:
        upstream = [node.url.removeprefix("http://")]
        with running_nginx(upstream, upstream, worker_processes="1") as nginx:
            yield node, nginx


async def test_no_secret_reaches_a_log_line(edge: tuple[ServerHandle, NginxHandle]) -> None:
    node, nginx = edge
    secrets: list[str] = []
    name = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": name, "password": PASSWORD}
    async with httpx.AsyncClient(base_url=nginx.url, timeout=30) as http:
        assert (await http.post("/api/accounts", json=body)).status_code == 201
        token = (await http.post("/api/tokens", json=body)).json()["token"]
        other = (await http.post("/api/tokens", json=body)).json()["token"]
        secrets += [token, other, PASSWORD]
        auth = {"Authorization": f"Bearer {token}"}
        room = f"r{uuid.uuid4().hex[:8]}"
        assert (await http.post("/api/rooms", json={"name": room}, headers=auth)).is_success
        ticket = (await http.post("/api/ws-tickets", headers=auth)).json()["ticket"]
        secrets.append(ticket)
        ws_url = nginx.url.replace("http", "ws", 1) + f"/ws?ticket={ticket}"
        async with connect(ws_url) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(json.dumps({"type": "join", "room": room}))
            await ws.send(
                json.dumps({"type": "send", "room": room, "text": "hello", "client_id": "c1"})
            )
            while json.loads(await ws.recv())["type"] != "ack":
                pass
        # A used ticket, tried again, is refused: that attempt is logged too.
        async with httpx.AsyncClient(base_url=nginx.url, timeout=30) as again:
            assert (await again.get(f"/ws?ticket={ticket}")).status_code >= 400
        grant = (await http.post("/api/upload-grants", headers=auth)).json()
        secrets.append(grant["grant"])
        headers = {"Content-Type": "image/jpeg", grant["header"]: grant["grant"]}
        uploaded = await http.post("/media/uploads", content=jpeg(64, 64), headers=headers)
        assert uploaded.status_code == 201
        listed = (await http.get("/api/tokens", headers=auth)).json()["tokens"]
        other_id = next(t["id"] for t in listed if not t["current"])
        assert (await http.delete(f"/api/tokens/{other_id}", headers=auth)).status_code == 204
        assert (
            await http.get("/api/rooms", headers={"Authorization": f"Bearer {other}"})
        ).status_code == 401
        assert (await http.delete("/api/tokens/current", headers=auth)).status_code == 204
    logs = {
        "confab": node.log(),
        "nginx access": nginx.access_log(),
        "nginx error": nginx.error_log(),
    }
    assert "/ws" in logs["nginx access"] and "/api/tokens" in logs["nginx access"]
    assert '"path"' in logs["confab"]  # request lines were logged
    for where, text in logs.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in the {where} log"
