"""Pictures and links in messages on a real `confab up`: attachments, link previews."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING, MANY_USERS_ONE_ADDRESS
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.sources import jpeg, origin, png
from tests.e2e.tickets import ws_url
from tests.openapi_check import checked_sync

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
ENV = {
    "CONFAB_MEDIA_ALLOW_NETWORKS": "127.0.0.2/32",
    "CONFAB_MEDIA_ALLOW_PORTS": "1024-65535",
    "CONFAB_MEDIA_RENDER_PROCESSES": "2",
    **CHEAP_PASSWORD_HASHING,
    **MANY_USERS_ONE_ADDRESS,
    "CONFAB_LOG_LEVEL": "WARNING",
}
STORY = b"""<!doctype html>
<html><head><meta charset="utf-8">
<title>Plain title</title>
<meta property="og:title" content="Otters hold hands &amp; sleep">
<meta property="og:description" content="So they do not drift apart.">
<meta property="og:image" content="/img/otter.jpg">
</head><body><p>story</p></body></html>"""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    files = {
        "/story.html": ("text/html; charset=utf-8", STORY),
        "/img/otter.jpg": ("image/jpeg", jpeg(640, 480)),
        "/photo.png": ("image/png", png(300, 200)),
        "/binary": ("application/octet-stream", b"\x00\x01 not a page" * 100),
    }
    # Anything else (/broken.html, /missing) answers 404.
    with origin("127.0.0.2", files) as base:
        yield base


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with confab_server(tmp_path_factory.mktemp("chatmedia") / "data", env=ENV) as handle:
        yield handle


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _user(api: httpx.Client) -> str:
    body = {"username": f"u{uuid.uuid4().hex[:10]}", "password": PASSWORD}
    assert api.post("/api/accounts", json=body).status_code == 201
    return str(api.post("/api/tokens", json=body).json()["token"])


def _upload(api: httpx.Client, token: str, body: bytes) -> httpx.Response:
    """Upload as the browser does: a grant from the chat API, then the upload with it."""
    granted = api.post("/api/upload-grants", headers=_auth(token))
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    headers = {"Content-Type": "image/jpeg", grant["header"]: grant["grant"]}
    return api.post("/media/uploads", content=body, headers=headers)


def _room(api: httpx.Client, token: str) -> str:
    name = f"r{uuid.uuid4().hex[:10]}"
    assert api.post("/api/rooms", json={"name": name}, headers=_auth(token)).status_code == 201
    return name


def _pair(api: httpx.Client) -> tuple[str, str, str]:
    """Two users' tokens and a room of the first that the second joined."""
    sender, reader = _user(api), _user(api)
    room = _room(api, sender)
    assert api.post(f"/api/rooms/{room}/members", headers=_auth(reader)).status_code == 200
    return sender, reader, room


def _history(api: httpx.Client, token: str, room: str) -> list[dict[str, Any]]:
    page = api.get(f"/api/rooms/{room}/messages", headers=_auth(token))
    assert page.status_code == 200, page.text
    messages: list[dict[str, Any]] = page.json()["messages"]
    return messages


def _image(api: httpx.Client, url: str) -> httpx.Response:
    """GET a same-origin media URL the way a browser would; it must be an image."""
    assert url.startswith("/media/"), url
    response = api.get(url, headers={"Accept": "image/avif,image/webp,image/*,*/*;q=0.8"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/")
    assert len(response.content) > 100
    return response


@pytest.fixture
def api(server: ServerHandle) -> Iterator[httpx.Client]:
    with checked_sync(server.url, timeout=60) as client:
        yield client


NOISE = ("presence", "typing", "member_joined")


async def _frame(
    ws: ClientConnection, kind: str, *, skip: tuple[str, ...] = NOISE, timeout: float = 20.0
) -> dict[str, Any]:
    """The next frame of type `kind`, skipping `skip` types; anything else fails the test."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame
        assert frame["type"] in skip, frame


@asynccontextmanager
async def _joined(server: ServerHandle, token: str, room: str) -> AsyncIterator[ClientConnection]:
    async with connect(await ws_url(server.url, token)) as ws:
        await _frame(ws, "ready")
        await ws.send(json.dumps({"type": "join", "room": room}))
        await _frame(ws, "joined")
        yield ws


def test_an_uploaded_image_is_attached_with_signed_thumbnail_urls(api: httpx.Client) -> None:
    token = _user(api)
    room = _room(api, token)
    uploaded = _upload(api, token, jpeg(1200, 900))
    assert uploaded.status_code == 201, uploaded.text
    upload_id = uploaded.json()["id"]
    url = f"/api/rooms/{room}/messages"
    sent = api.post(url, headers=_auth(token), json={"text": "a photo", "attachments": [upload_id]})
    assert sent.status_code == 201, sent.text
    (attachment,) = sent.json()["attachments"]
    assert attachment["id"] == upload_id
    assert (attachment["width"], attachment["height"]) == (1200, 900)
    thumbnail = _image(api, attachment["thumbnail_url"])
    full = _image(api, attachment["full_url"])
    assert len(thumbnail.content) < len(full.content)
    # Signed: cached for good by browsers; tampering with the path breaks the signature.
    assert "immutable" in thumbnail.headers["cache-control"]
    tampered = attachment["thumbnail_url"].replace("640x640", "641x641")
    assert api.get(tampered).status_code == 403
    history = api.get(url, headers=_auth(token)).json()["messages"]
    assert history[-1]["attachments"] == [attachment]


def test_an_unknown_upload_is_refused(api: httpx.Client) -> None:
    token = _user(api)
    room = _room(api, token)
    body = {"text": "ghost", "attachments": ["f" * 64]}
    refused = api.post(f"/api/rooms/{room}/messages", headers=_auth(token), json=body)
    assert refused.status_code == 404
    assert refused.json()["error"] == "unknown_attachment"


async def test_a_link_gets_a_preview_over_the_websocket(
    server: ServerHandle, api: httpx.Client, site: str
) -> None:
    sender, reader, room = await asyncio.to_thread(_pair, api)
    link = f"{site}/story.html"
    async with _joined(server, reader, room) as ws:
        text = f"look: {link}!"
        await asyncio.to_thread(
            api.post, f"/api/rooms/{room}/messages", headers=_auth(sender), json={"text": text}
        )
        message = await _frame(ws, "message")
        assert message["text"] == text and message["previews"] == []
        updated = await _frame(ws, "previews_set")
    assert updated["target"] == message["id"] and updated["seq"] > message["seq"]
    (preview,) = updated["previews"]
    assert preview["url"] == link
    assert preview["title"] == "Otters hold hands & sleep"
    assert preview["description"] == "So they do not drift apart."
    image = await asyncio.to_thread(_image, api, preview["image"])
    assert image.headers["x-cache"] in ("MISS", "HIT")
    # Stored: a reload shows it.
    history = await asyncio.to_thread(_history, api, reader, room)
    assert history[-1]["previews"] == [preview]


async def test_a_link_to_an_image_previews_the_image(
    server: ServerHandle, api: httpx.Client, site: str
) -> None:
    token = _user(api)
    room = _room(api, token)
    async with _joined(server, token, room) as ws:
        await ws.send(
            json.dumps(
                {"type": "send", "room": room, "text": f"{site}/photo.png", "client_id": "p1"}
            )
        )
        updated = await _frame(ws, "previews_set", skip=(*NOISE, "message", "ack"))
    (preview,) = updated["previews"]
    assert preview["url"] == f"{site}/photo.png" and preview["image"]
    await asyncio.to_thread(_image, api, preview["image"])


async def test_a_failing_page_gives_no_preview_and_no_error(
    server: ServerHandle, api: httpx.Client, site: str
) -> None:
    token = _user(api)
    room = _room(api, token)
    async with _joined(server, token, room) as ws:
        for client_id, text in [
            ("bad", f"broken: {site}/broken.html, {site}/missing and {site}/binary"),
            ("good", f"fine: {site}/story.html"),
        ]:
            frame = {"type": "send", "room": room, "text": text, "client_id": client_id}
            await ws.send(json.dumps(frame))
        seen: list[dict[str, Any]] = []
        # Frames up to the good message's preview: no error, no update of the bad one.
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
            seen.append(frame)
            if frame["type"] == "previews_set":
                break
        await ws.send(json.dumps({"type": "ping"}))
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "pong":
            seen.append(frame)
    kinds = [f["type"] for f in seen]
    assert "error" not in kinds
    updates = [f for f in seen if f["type"] == "previews_set"]
    client_ids = {f["id"]: f["client_id"] for f in seen if f["type"] == "message"}
    assert [client_ids[u["target"]] for u in updates] == ["good"]
    history = await asyncio.to_thread(_history, api, token, room)
    assert history[0]["client_id"] == "bad" and history[0]["previews"] == []


def test_a_chat_node_without_media_refuses_attachments(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k.startswith("CONFAB_CHAT")}
    with (
        confab_server(tmp_path / "data", "--roles", "chat", command="serve", env=env) as chat,
        checked_sync(chat.url, timeout=30) as api,
    ):
        token = _user(api)
        room = _room(api, token)
        url = f"/api/rooms/{room}/messages"
        body = {"text": "pic", "attachments": ["f" * 64]}
        refused = api.post(url, headers=_auth(token), json=body)
        assert refused.status_code == 503
        assert refused.json()["error"] == "media_unavailable"
        # Links are just text there.
        assert api.post(url, headers=_auth(token), json={"text": "http://a.example/"}).is_success
