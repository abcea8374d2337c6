"""The chat HTTP API on a real `confab up` process (Part 1 of the chat issue)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.procs import MANY_USERS_ONE_ADDRESS

from confab.adapters.sql.migrate import upgrade_to_head
from tests.contract.chat_databases import postgres_database
from tests.e2e.server import ServerHandle, confab_server
from tests.openapi_check import checked_sync_client, openapi_checker_sync

pytestmark = pytest.mark.e2e

# Registration hashes with argon2 at full cost: fine, it runs in threads.
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with confab_server(
        tmp_path_factory.mktemp("chat") / "data", env=MANY_USERS_ONE_ADDRESS
    ) as handle:
        yield handle


@pytest.fixture
def api(server: ServerHandle) -> Iterator[httpx.Client]:
    # Every /api response is checked against the published OpenAPI document.
    checker = openapi_checker_sync(server.url)
    with checked_sync_client(server.url, checker, timeout=30) as client:
        yield client


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _user(api: httpx.Client, prefix: str = "u") -> tuple[str, dict[str, str]]:
    """A new account and the headers that authenticate as it."""
    name = _name(prefix)
    assert (
        api.post("/api/accounts", json={"username": name, "password": PASSWORD}).status_code == 201
    )
    token = api.post("/api/tokens", json={"username": name, "password": PASSWORD}).json()["token"]
    return name, {"Authorization": f"Bearer {token}"}


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    return str(body["error"])


def test_openapi_documents_every_route(api: httpx.Client) -> None:
    response = api.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    expected = {
        "/api/accounts": {"post"},
        "/api/tokens": {"post", "get", "delete"},
        "/api/tokens/current": {"delete"},
        "/api/tokens/{token_id}": {"delete"},
        "/api/ws-tickets": {"post"},
        "/api/upload-grants": {"post"},
        "/api/accounts/me/password": {"put"},
        "/api/accounts/me/deactivate": {"post"},
        "/api/rooms": {"get", "post"},
        "/api/rooms/{room}": {"get", "patch", "delete"},
        "/api/rooms/{room}/members": {"get", "post"},
        "/api/rooms/{room}/members/{username}": {"delete"},
        "/api/rooms/{room}/members/{username}/role": {"put"},
        "/api/rooms/{room}/bans": {"get", "post"},
        "/api/rooms/{room}/bans/{username}": {"delete"},
        "/api/rooms/{room}/read": {"post"},
        "/api/rooms/{room}/notify": {"put"},
        "/api/dms": {"post"},
        "/api/rooms/{room}/messages": {"get", "post"},
        "/api/rooms/{room}/messages/{message_id}": {"patch", "delete"},
        "/api/rooms/{room}/messages/{message_id}/thread": {"get"},
        "/api/rooms/{room}/messages/{message_id}/reactions/{emoji}": {"put", "delete"},
    }
    assert {path: set(ops) for path, ops in doc["paths"].items()} == expected
    schemas = doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (path, method)
            body = operation.get("requestBody")
            if body:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in schemas
    assert set(schemas["Message"]["properties"]) >= {"id", "room", "seq", "author", "text"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_accounts_and_tokens(api: httpx.Client) -> None:
    name = _name("Al")
    created = api.post("/api/accounts", json={"username": name, "password": PASSWORD})
    assert created.status_code == 201
    assert created.json() == {"username": name.lower()}
    taken = api.post("/api/accounts", json={"username": name.upper(), "password": PASSWORD})
    assert _error(taken, 409) == "username_taken"
    short = api.post("/api/accounts", json={"username": _name("s"), "password": "1234567"})
    assert _error(short, 422) == "password_too_short"
    bad_name = api.post("/api/accounts", json={"username": "no spaces!", "password": PASSWORD})
    assert _error(bad_name, 422) == "invalid_username"

    signed = api.post("/api/tokens", json={"username": name.upper(), "password": PASSWORD})
    assert signed.status_code == 200
    token = signed.json()["token"]
    assert signed.json()["expires_at"].endswith("Z")
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/rooms", headers=auth).status_code == 200

    wrong = api.post("/api/tokens", json={"username": name, "password": "wrong password"})
    unknown = api.post("/api/tokens", json={"username": _name("n"), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()  # the same answer whether the user exists or not

    assert api.delete("/api/tokens/current", headers=auth).status_code == 204
    assert _error(api.get("/api/rooms", headers=auth), 401) == "invalid_token"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
    ],
)
def test_every_call_needs_a_valid_token(api: httpx.Client, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/api/rooms"),
        ("POST", "/api/rooms"),
        ("GET", "/api/rooms/lobby/messages"),
        ("POST", "/api/rooms/lobby/messages"),
        ("DELETE", "/api/tokens/current"),
        ("POST", "/api/rooms/lobby/bans"),
        ("PATCH", "/api/rooms/lobby/messages/1"),
    ]:
        response = api.request(method, path, headers=headers, json={"text": "x"})
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_sign_in_attempts_are_rate_limited(api: httpx.Client) -> None:
    name, _ = _user(api)
    statuses = [
        api.post("/api/tokens", json={"username": name, "password": "guess" * 3}).status_code
        for _ in range(11)
    ]
    assert statuses[:9].count(401) == 9  # _user signed in once: 10 attempts per minute
    assert statuses[-1] == 429
    right = api.post("/api/tokens", json={"username": name, "password": PASSWORD})
    assert _error(right, 429) == "signin_throttled"


def test_bad_bodies_are_422_never_500(api: httpx.Client) -> None:
    _, auth = _user(api)
    room = _name("r")
    assert api.post("/api/rooms", headers=auth, json={"name": room}).status_code == 201
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/api/accounts", b"not json"),
        ("POST", "/api/accounts", b"[1, 2]"),
        ("POST", "/api/accounts", {"username": "abc"}),
        ("POST", "/api/accounts", {"username": 5, "password": PASSWORD}),
        ("POST", "/api/tokens", {"username": "abc", "password": None}),
        ("POST", "/api/rooms", {"name": "x", "private": "yes"}),
        ("POST", "/api/rooms", {"name": "x", "surprise": 1}),
        ("POST", f"/api/rooms/{room}/messages", {"text": 42}),
        ("POST", f"/api/rooms/{room}/messages", {"text": "hi", "attachments": "abc"}),
        ("POST", f"/api/rooms/{room}/messages", b'{"text": "\\ud800"}'),
        ("POST", f"/api/rooms/{room}/bans", {}),
        ("POST", f"/api/rooms/{room}/members", {"username": ["x"]}),
        ("PATCH", f"/api/rooms/{room}/messages/1", {"txt": "typo"}),
    ]
    for method, path, body in cases:
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        response = api.request(method, path, headers=auth, **kwargs)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["error"] in ("invalid_body", "invalid_text"), response.text
    huge = api.post(f"/api/rooms/{room}/messages", headers=auth, content=b"x" * 70_000)
    assert _error(huge, 413) == "body_too_large"


def test_rooms_and_membership(api: httpx.Client) -> None:
    owner, owner_auth = _user(api, "o")
    bob, bob_auth = _user(api, "b")
    carol, carol_auth = _user(api, "c")
    lobby, secret = _name("Lobby"), _name("secret")

    created = api.post("/api/rooms", headers=owner_auth, json={"name": lobby, "topic": "hi"})
    assert created.status_code == 201
    assert created.json() == {
        "name": lobby.lower(),
        "title": "",
        "topic": "hi",
        "private": False,
        "kind": "room",
        "owner": owner,
        "last_seq": 0,
        "member": True,
        "members": 1,
        "role": "owner",
        "read_seq": 0,
        "unread": 0,
        "mentions": 0,
        "notify": "all",
        "participants": None,
    }
    lobby = lobby.lower()
    assert (
        _error(api.post("/api/rooms", headers=bob_auth, json={"name": lobby}), 409) == "room_taken"
    )
    assert (
        _error(api.post("/api/rooms", headers=bob_auth, json={"name": "a b"}), 422)
        == "invalid_room_name"
    )
    made = api.post("/api/rooms", headers=owner_auth, json={"name": secret, "private": True})
    assert made.status_code == 201

    listed = {r["name"]: r for r in api.get("/api/rooms", headers=bob_auth).json()["rooms"]}
    assert lobby in listed and secret not in listed
    assert listed[lobby]["member"] is False

    joined = api.post(f"/api/rooms/{lobby}/members", headers=bob_auth)
    assert joined.status_code == 200 and joined.json()["member"] and joined.json()["members"] == 2
    # A private room is invisible to outsiders: the same 404 as a missing room.
    refused = api.post(f"/api/rooms/{secret}/members", headers=bob_auth, json={})
    assert _error(refused, 404) == "room_not_found"
    not_owner = api.post(f"/api/rooms/{secret}/members", headers=carol_auth, json={"username": bob})
    assert _error(not_owner, 404) == "room_not_found"
    for path in ("", "/members", "/messages"):
        hidden = api.get(f"/api/rooms/{secret}{path}", headers=carol_auth)
        missing = api.get(f"/api/rooms/nosuchroom1{path}", headers=carol_auth)
        assert (hidden.status_code, hidden.json()["error"]) == (404, "room_not_found")
        assert hidden.json() == {**missing.json(), "detail": f"no room {secret!r}"}
    invited = api.post(f"/api/rooms/{secret}/members", headers=owner_auth, json={"username": bob})
    assert invited.status_code == 200
    mine = {r["name"] for r in api.get("/api/rooms", headers=bob_auth).json()["rooms"]}
    assert {lobby, secret} <= mine
    members = api.get(f"/api/rooms/{secret}/members", headers=bob_auth).json()["members"]
    assert members == sorted(
        [{"user": owner, "role": "owner"}, {"user": bob, "role": "member"}],
        key=lambda m: m["user"],
    )
    assert _error(api.get(f"/api/rooms/{secret}", headers=carol_auth), 404) == "room_not_found"
    assert _error(api.get("/api/rooms/no-such-room", headers=carol_auth), 404) == "room_not_found"

    # leave, kick, ban
    assert api.post(f"/api/rooms/{lobby}/members", headers=carol_auth).status_code == 200
    kick_by_member = api.delete(f"/api/rooms/{lobby}/members/{carol}", headers=bob_auth)
    assert _error(kick_by_member, 403) == "not_moderator"
    assert api.delete(f"/api/rooms/{lobby}/members/{bob}", headers=bob_auth).status_code == 204
    assert api.delete(f"/api/rooms/{lobby}/members/{carol}", headers=owner_auth).status_code == 204
    owner_leaves = api.delete(f"/api/rooms/{lobby}/members/{owner}", headers=owner_auth)
    assert _error(owner_leaves, 403) == "owner_stays"
    assert api.post(f"/api/rooms/{lobby}/members", headers=carol_auth).status_code == 200
    ban_by_member = api.post(
        f"/api/rooms/{lobby}/bans", headers=carol_auth, json={"username": owner}
    )
    assert _error(ban_by_member, 403) == "not_moderator"
    banned = api.post(f"/api/rooms/{lobby}/bans", headers=owner_auth, json={"username": carol})
    assert banned.status_code == 204
    assert _error(api.post(f"/api/rooms/{lobby}/members", headers=carol_auth), 403) == "banned"
    send = api.post(f"/api/rooms/{lobby}/messages", headers=carol_auth, json={"text": "hi"})
    assert _error(send, 403) == "not_a_member"
    assert api.get(f"/api/rooms/{lobby}", headers=owner_auth).json()["members"] == 1
    no_user = api.post(f"/api/rooms/{lobby}/bans", headers=owner_auth, json={"username": "ghost-1"})
    assert _error(no_user, 404) == "user_not_found"


def test_messages_history_and_idempotency(api: httpx.Client) -> None:
    owner, owner_auth = _user(api, "o")
    _, bob_auth = _user(api, "b")
    room = _name("r")
    api.post("/api/rooms", headers=owner_auth, json={"name": room})
    api.post(f"/api/rooms/{room}/members", headers=bob_auth)
    url = f"/api/rooms/{room}/messages"

    first = api.post(url, headers=owner_auth, json={"text": "hello 👋", "client_id": "c-1"})
    assert first.status_code == 201
    message = first.json()
    assert message["seq"] == 2  # bob joining is the room's first event
    assert message["author"] == owner and message["room"] == room
    assert message["text"] == "hello 👋" and message["client_id"] == "c-1"
    assert message["deleted"] is False and message["edited_at"] is None
    assert message["attachments"] == [] and message["previews"] == []
    assert message["created_at"].endswith("Z")

    again = api.post(url, headers=owner_auth, json={"text": "hello again", "client_id": "c-1"})
    assert again.status_code == 200 and again.json() == message  # never a second copy
    theirs = api.post(url, headers=bob_auth, json={"text": "mine", "client_id": "c-1"})
    assert theirs.status_code == 201 and theirs.json()["seq"] == 3
    for i in range(4, 14):
        sent = api.post(url, headers=bob_auth if i % 2 else owner_auth, json={"text": f"m{i}"})
        assert sent.json()["seq"] == i

    page = api.get(url, headers=bob_auth, params={"limit": 5}).json()
    assert [m["seq"] for m in page["messages"]] == [9, 10, 11, 12, 13] and page["has_more"]
    page = api.get(url, headers=bob_auth, params={"before": 9, "limit": 5}).json()
    assert [m["seq"] for m in page["messages"]] == [4, 5, 6, 7, 8] and page["has_more"]
    page = api.get(url, headers=bob_auth, params={"before": 4, "limit": 5}).json()
    assert [m["seq"] for m in page["messages"]] == [2, 3] and not page["has_more"]
    page = api.get(url, headers=bob_auth, params={"after": 11}).json()
    assert [m["seq"] for m in page["messages"]] == [12, 13] and not page["has_more"]
    everything = api.get(url, headers=bob_auth, params={"after": 0, "limit": 100}).json()
    assert [m["seq"] for m in everything["messages"]] == list(range(2, 14))
    # Both bounds: the oldest page strictly between them.
    between = api.get(url, headers=bob_auth, params={"after": 3, "before": 9, "limit": 3}).json()
    assert [m["seq"] for m in between["messages"]] == [4, 5, 6] and between["has_more"]
    rest = api.get(url, headers=bob_auth, params={"after": 6, "before": 9}).json()
    assert [m["seq"] for m in rest["messages"]] == [7, 8] and not rest["has_more"]

    for params, reason in [
        ({"limit": 101}, "invalid_limit"),
        ({"limit": 0}, "invalid_limit"),
        ({"before": "abc"}, "invalid_before"),
        ({"after": -1}, "invalid_after"),
    ]:
        assert _error(api.get(url, headers=bob_auth, params=params), 422) == reason
    for text, reason in [
        ("", "text_empty"),
        ("\x1f\x01", "text_empty"),
        ("x" * 4001, "text_too_long"),
        ("nul\x00", "invalid_text"),
    ]:
        assert _error(api.post(url, headers=bob_auth, json={"text": text}), 422) == reason
    assert api.post(url, headers=bob_auth, json={"text": "é" * 4000}).status_code == 201
    bad_upload = api.post(url, headers=bob_auth, json={"text": "pic", "attachments": ["x"]})
    assert _error(bad_upload, 422) == "invalid_attachment"
    # Well formed but never uploaded (attachments that exist: tests/e2e/test_chat_media.py).
    ghost = api.post(url, headers=bob_auth, json={"text": "pic", "attachments": ["0" * 64]})
    assert _error(ghost, 404) == "unknown_attachment"


def test_edit_and_delete_permissions(api: httpx.Client) -> None:
    _, owner_auth = _user(api, "o")
    _, bob_auth = _user(api, "b")
    _, carol_auth = _user(api, "c")
    room = _name("r")
    api.post("/api/rooms", headers=owner_auth, json={"name": room})
    for auth in (bob_auth, carol_auth):
        api.post(f"/api/rooms/{room}/members", headers=auth)
    url = f"/api/rooms/{room}/messages"
    bobs = api.post(url, headers=bob_auth, json={"text": "bob's"}).json()
    carols = api.post(url, headers=carol_auth, json={"text": "carol's"}).json()

    edited = api.patch(f"{url}/{bobs['id']}", headers=bob_auth, json={"text": "bob's, edited"})
    assert edited.status_code == 200
    assert edited.json()["text"] == "bob's, edited" and edited.json()["edited_at"] is not None
    assert edited.json()["seq"] == bobs["seq"]
    by_owner = api.patch(f"{url}/{bobs['id']}", headers=owner_auth, json={"text": "owner"})
    assert _error(by_owner, 403) == "not_author"
    too_long = api.patch(f"{url}/{bobs['id']}", headers=bob_auth, json={"text": "x" * 4001})
    assert _error(too_long, 422) == "text_too_long"

    by_other = api.delete(f"{url}/{carols['id']}", headers=bob_auth)
    assert _error(by_other, 403) == "not_author"
    own = api.delete(f"{url}/{bobs['id']}", headers=bob_auth)
    assert own.status_code == 200 and own.json()["deleted"] is True and own.json()["text"] == ""
    moderated = api.delete(f"{url}/{carols['id']}", headers=owner_auth)
    assert moderated.status_code == 200 and moderated.json()["deleted"]
    revive = api.patch(f"{url}/{bobs['id']}", headers=bob_auth, json={"text": "back"})
    assert _error(revive, 409) == "message_deleted"

    history = api.get(url, headers=bob_auth).json()["messages"]
    assert [(m["seq"], m["deleted"], m["text"]) for m in history] == [(3, True, ""), (4, True, "")]
    assert (
        _error(api.patch(f"{url}/999999", headers=bob_auth, json={"text": "x"}), 404)
        == "message_not_found"
    )
    assert _error(api.delete(f"{url}/{2**70}", headers=bob_auth), 404) == "message_not_found"
    assert _error(api.delete(f"{url}/abc", headers=bob_auth), 404) == "message_not_found"


def test_unknown_api_routes_and_methods(api: httpx.Client) -> None:
    _, auth = _user(api)
    assert _error(api.get("/api/nothing/here", headers=auth), 404) == "not_found"
    wrong = api.put("/api/rooms", headers=auth, json={})
    assert _error(wrong, 405) == "method_not_allowed"
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_a_node_on_postgresql_refuses_an_old_schema_then_serves(tmp_path: Path) -> None:
    async with postgres_database() as url:
        env = {"CONFAB_DATABASE_URL": url}
        command = [
            sys.executable,
            "-m",
            "confab.cli",
            "serve",
            "--roles",
            "chat",
            "--port",
            "0",
            "--data",
            str(tmp_path / "refused"),
        ]
        refused = await asyncio.to_thread(
            subprocess.run,
            command,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
        )
        assert refused.returncode == 1
        assert "confab migrate" in refused.stderr
        assert "Traceback" not in refused.stderr

        await upgrade_to_head(url)

        def serve_and_post() -> None:
            with (
                confab_server(tmp_path / "pg", "--roles", "chat", command="serve", env=env) as node,
                httpx.Client(base_url=node.url, timeout=30) as client,
            ):
                name, auth = _user(client)
                room = _name("r")
                assert (
                    client.post("/api/rooms", headers=auth, json={"name": room}).status_code == 201
                )
                sent = client.post(f"/api/rooms/{room}/messages", headers=auth, json={"text": "pg"})
                assert sent.status_code == 201 and sent.json()["seq"] == 1
                assert name

        await asyncio.to_thread(serve_and_post)
