"""What must not be public (issue 11, part 4): /metrics, foreign pages on /ws, private
rooms' existence, and long bad input quoted back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING, free_port
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.tickets import ws_url

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, metrics_port: int) -> Iterator[ServerHandle]:
    env = {
        **CHEAP_PASSWORD_HASHING,
        "CONFAB_METRICS_PORT": str(metrics_port),
        "CONFAB_MEDIA_RENDER_PROCESSES": "1",
    }
    with confab_server(tmp_path_factory.mktemp("edges") / "data", env=env) as handle:
        yield handle


def _token(server: ServerHandle) -> str:
    body = {"username": f"u{uuid.uuid4().hex[:10]}", "password": PASSWORD}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/api/accounts", json=body).status_code == 201
        return str(http.post("/api/tokens", json=body).json()["token"])


def test_metrics_are_on_their_own_port_only(server: ServerHandle, metrics_port: int) -> None:
    public = httpx.get(f"{server.url}/metrics")
    assert (public.status_code, public.json()["error"]) == (404, "not_found")
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert scraped.status_code == 200
    assert "confab_http_requests_total" in scraped.text


def test_without_a_port_metrics_answer_only_the_allow_list(tmp_path: Path) -> None:
    env = {"CONFAB_METRICS_ALLOW": "10.123.0.0/16", "CONFAB_MEDIA_RENDER_PROCESSES": "1"}
    with confab_server(tmp_path / "data", "--roles", "media", command="serve", env=env) as node:
        assert httpx.get(f"{node.url}/metrics").status_code == 404
    with confab_server(tmp_path / "data2", "--roles", "media", command="serve") as node:
        assert httpx.get(f"{node.url}/metrics").status_code == 200  # loopback: allowed


async def test_ws_refuses_another_sites_page(server: ServerHandle) -> None:
    token = _token(server)
    host = server.url.removeprefix("http://")
    for origin, accepted in (
        ("https://evil.example", False),
        (f"http://{host}", True),
        (None, True),
    ):
        url = await ws_url(server.url, token)
        headers = {"Origin": origin} if origin else {}
        if accepted:
            async with connect(url, additional_headers=headers) as ws:
                assert json.loads(await ws.recv())["type"] == "ready"
        else:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 403
            # The ticket was not spent on the refused page.
            async with connect(url) as ws:
                assert json.loads(await ws.recv())["type"] == "ready"


async def test_long_bad_input_is_quoted_by_a_short_prefix_only(server: ServerHandle) -> None:
    token = _token(server)
    huge = "k" * 60_000
    async with connect(await ws_url(server.url, token)) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        await ws.send(
            json.dumps({"type": "send", "room": "nowhere", "text": "x", "client_id": huge})
        )
        error = json.loads(await ws.recv())
        assert error["type"] == "error"
        assert len(await_text := json.dumps(error)) < 1000, await_text[:200]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {token}"}
        body = {"text": "x", "client_id": huge}
        answers = [
            await http.post("/api/rooms/r/messages", headers=auth, json=body),
            await http.get(f"/api/rooms/{'r' * 6000}", headers=auth),
            await http.get(f"/api/{'x' * 6000}", headers=auth),
        ]
        for answer in answers:
            assert 400 <= answer.status_code < 500
            assert len(answer.content) < 1000, answer.content[:200]
