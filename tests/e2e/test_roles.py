"""Roles as separate processes on PostgreSQL: `confab migrate`, a media node and a chat node
that reaches it over HTTP (CONFAB_MEDIA_URL), and what a sender sees when media is down."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from confab.adapters.sql.migrate import head_revision
from tests.contract.chat_databases import postgres_database
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.sources import jpeg, origin
from tests.e2e.test_chat_media import (
    ENV,
    NOISE,
    STORY,
    _auth,
    _frame,
    _image,
    _joined,
    _room,
    _user,
)
from tests.openapi_check import checked_sync

pytestmark = pytest.mark.e2e

KEY = "roles-e2e-media-key"


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards)."""
    with asyncio.Runner() as runner:
        context = postgres_database()
        url = runner.run(context.__aenter__())
        try:
            yield url
        finally:
            runner.run(context.__aexit__(None, None, None))


def _confab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confab.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_base_env(), **(env or {})},
    )


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CONFAB_")}


def test_a_node_refuses_an_unmigrated_database_until_confab_migrate(
    database: str, tmp_path: Path
) -> None:
    env = {"CONFAB_DATABASE_URL": database}
    refused = _confab("serve", "--roles", "chat", "--port", "0", "--data", str(tmp_path), env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "run `confab migrate`" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout

    migrated = _confab("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"from an empty schema to {head_revision()}" in migrated.stdout
    again = _confab("migrate", "--database-url", database)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout


def test_migrate_says_why_it_cannot_reach_the_database(tmp_path: Path) -> None:
    for url, why in [
        ("postgresql://postgres:hunter2@127.0.0.1:9/confab", "unreachable"),
        ("postgresql://postgres@127.0.0.1:5432/confab_no_such_database", "does not exist"),
        ("mysql://root@127.0.0.1/confab", "unsupported database URL"),
    ]:
        failed = _confab("migrate", "--database-url", url)
        assert failed.returncode != 0
        assert why in failed.stderr, failed.stderr
        assert "hunter2" not in failed.stderr
        assert "Traceback" not in failed.stderr


@pytest.fixture
def site() -> Iterator[str]:
    files = {
        "/story.html": ("text/html; charset=utf-8", STORY),
        "/img/otter.jpg": ("image/jpeg", jpeg(640, 480)),
    }
    with origin("127.0.0.2", files) as base:
        yield base


def test_chat_and_media_nodes_on_postgresql(database: str, site: str, tmp_path: Path) -> None:
    migrated = _confab("migrate", "--database-url", database)
    assert migrated.returncode == 0, migrated.stderr
    shared = {
        **ENV,
        "CONFAB_MEDIA_SECURITY_KEY": KEY,
        "CONFAB_BLOBS_URL": (tmp_path / "blobs").as_uri(),
        "CONFAB_MEDIA_RENDER_PROCESSES": "1",
    }
    with ExitStack() as stack:
        media = stack.enter_context(
            confab_server(tmp_path / "media", "--roles", "media", command="serve", env=shared)
        )
        chat_env = {**shared, "CONFAB_DATABASE_URL": database, "CONFAB_MEDIA_URL": media.url}
        chat = stack.enter_context(
            confab_server(tmp_path / "chat", "--roles", "chat", command="serve", env=chat_env)
        )
        api = stack.enter_context(checked_sync(chat.url, timeout=60))
        media_api = stack.enter_context(httpx.Client(base_url=media.url, timeout=60))
        assert media_api.get("/healthz").json()["roles"] == ["media"]
        assert api.get("/healthz").json()["roles"] == ["chat"]
        assert api.get("/media/unsafe/10x10/x").status_code == 404  # chat serves no media
        # Media speaks no WebSocket: an upgrade is a plain request for a path it lacks.
        upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
        upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
        assert media_api.get("/ws", headers=upgrade).status_code == 404

        token = _user(api)
        room = _room(api, token)
        messages = f"/api/rooms/{room}/messages"

        # An image uploaded to the media node, attached to a message on the chat node.
        # The grant comes from the chat node; the media node only checks it.
        grant = api.post("/api/upload-grants", headers=_auth(token)).json()
        headers = {"Content-Type": "image/jpeg", grant["header"]: grant["grant"]}
        unsigned = media_api.post("/media/uploads", content=jpeg(10, 10))
        assert unsigned.status_code == 401
        assert unsigned.json()["error"] == "upload_grant_missing"
        uploaded = media_api.post("/media/uploads", content=jpeg(1200, 900), headers=headers)
        assert uploaded.status_code == 201, uploaded.text
        upload_id = uploaded.json()["id"]
        body = {"text": "a photo", "attachments": [upload_id]}
        sent = api.post(messages, headers=_auth(token), json=body)
        assert sent.status_code == 201, sent.text
        (attachment,) = sent.json()["attachments"]
        assert attachment["id"] == upload_id
        assert (attachment["width"], attachment["height"]) == (1200, 900)
        # The signed URLs are the media node's to serve.
        thumbnail = _image(media_api, attachment["thumbnail_url"])
        assert "immutable" in thumbnail.headers["cache-control"]
        _image(media_api, attachment["full_url"])
        body = {"text": "?", "attachments": ["f" * 64]}
        unknown = api.post(messages, headers=_auth(token), json=body)
        assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_attachment"

        # A link gets a preview, asked of the media node in the background.
        link = f"{site}/story.html"
        preview = asyncio.run(_link_preview(chat, token, room, link))
        assert preview["url"] == link and preview["title"] == "Otters hold hands & sleep"
        _image(media_api, preview["image"])

        # The media node goes away: chat still carries messages.
        media.process.send_signal(signal.SIGTERM)
        assert media.process.wait(timeout=30) == 0
        plain = api.post(messages, headers=_auth(token), json={"text": "still here"})
        assert plain.status_code == 201, plain.text
        started = time.monotonic()
        body = {"text": "another photo", "attachments": [upload_id]}
        refused = api.post(messages, headers=_auth(token), json=body)
        assert time.monotonic() - started < 5.0  # connection refused: no long wait
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "media_unavailable"
        assert "media service is unavailable" in refused.json()["detail"]
        asyncio.run(_sends_with_media_down(chat, token, room, upload_id))
        history = api.get(messages, headers=_auth(token)).json()["messages"]
        assert [m["text"] for m in history[-2:]] == ["still here", "http://127.0.0.2/x"]
        assert history[-1]["previews"] == []
        assert chat.alive()
    # Every refusal was an answer, never a crash.
    for node in (chat, media):
        assert "Traceback" not in node.log() and "unhandled error" not in node.log()


async def _link_preview(chat: ServerHandle, token: str, room: str, link: str) -> dict[str, Any]:
    async with _joined(chat, token, room) as ws:
        await ws.send(json.dumps({"type": "send", "room": room, "text": link, "client_id": "l1"}))
        updated = await _frame(ws, "previews_set", skip=(*NOISE, "message", "ack"))
    (preview,) = updated["previews"]
    return dict(preview)


async def _sends_with_media_down(chat: ServerHandle, token: str, room: str, upload_id: str) -> None:
    async with _joined(chat, token, room) as ws:
        photo = {
            "type": "send",
            "room": room,
            "text": "photo again",
            "client_id": "d1",
            "attachments": [upload_id],
        }
        await ws.send(json.dumps(photo))
        error = await _frame(ws, "error")
        assert error["code"] == "media_unavailable" and error["client_id"] == "d1"
        # A link is just text now: stored and delivered, no preview, no error.
        link = {"type": "send", "room": room, "text": "http://127.0.0.2/x", "client_id": "d2"}
        await ws.send(json.dumps(link))
        ack = await _frame(ws, "ack", skip=(*NOISE, "message"))
        assert ack["client_id"] == "d2"
