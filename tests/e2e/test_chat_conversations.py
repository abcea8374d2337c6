"""Conversations on a real `confab serve --roles chat` process: the room as an event log
(resume gives the same state as staying connected), DMs and private rooms invisible to
outsiders over HTTP and WebSocket, invitations live, reactions and read markers synced
across a user's devices. Every HTTP response is checked against the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.e2e.server import ServerHandle
from tests.e2e.timeline import View, fold, from_history
from tests.e2e.wskit import NOISE, Chat, auth, chat_node, expect, join, open_chat, quiet, send_json

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with chat_node(tmp_path_factory, "conversations") as handle:
        yield handle


@pytest.fixture
async def chat(server: ServerHandle) -> AsyncIterator[Chat]:
    async with open_chat(server) as opened:
        yield opened


async def until_seq(ws: ClientConnection, seq: int, view: View) -> list[dict[str, Any]]:
    """Fold frames into `view` until the room event `seq` arrived; the frames."""
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        frames.append(frame)
        fold(view, frame)
        if frame.get("seq") == seq and frame["type"] not in ("ack", "joined", "resumed"):
            return frames


async def test_a_client_offline_during_edits_deletes_reactions_and_replies_catches_up(
    chat: Chat,
) -> None:
    (ann, ann_t), (bob, bob_t), (cid, cid_t) = [await chat.user() for _ in range(3)]
    room = await chat.room(ann_t, bob_t, cid_t)
    url = f"/api/rooms/{room}/messages"
    live_view: View = {}
    offline_view: View = {}
    async with chat.socket(ann_t) as a, chat.socket(bob_t) as live:
        await join(a, room)
        await join(live, room)
        async with chat.socket(cid_t) as offline:
            await join(offline, room)
            first = (await chat.http.post(url, headers=auth(ann_t), json={"text": "one"})).json()
            second = (await chat.http.post(url, headers=auth(bob_t), json={"text": "two"})).json()
            await until_seq(live, second["seq"], live_view)
            await until_seq(offline, second["seq"], offline_view)
            offline.transport.abort()
        # While cid is away: an edit, a deletion, reactions (one taken back), a reply.
        one = f"{url}/{first['id']}"
        edited = await chat.http.patch(one, headers=auth(ann_t), json={"text": "1"})
        assert edited.status_code == 200
        deleted = await chat.http.delete(f"{url}/{second['id']}", headers=auth(bob_t))
        assert deleted.status_code == 200
        for token, emoji in ((bob_t, "👍"), (cid_t, "👍"), (ann_t, "🎉")):
            put = await chat.http.put(f"{one}/reactions/{emoji}", headers=auth(token))
            assert put.status_code == 204
        await send_json(
            a, type="unreact", room=room, target=first["id"], emoji="🎉", client_id="u1"
        )
        events = (*NOISE, "message", "message_edited", "message_deleted", "reaction_added")
        ack = await expect(a, "ack", skip=(*events, "reaction_removed"))
        assert ack["client_id"] == "u1" and isinstance(ack["seq"], int)
        await send_json(a, type="react", room=room, target=first["id"], emoji="👍", client_id="r1")
        reply = await chat.http.post(
            url, headers=auth(bob_t), json={"text": "re: one", "reply_to": first["id"]}
        )
        assert reply.status_code == 201 and reply.json()["thread_root"] == first["id"]
        last = reply.json()["seq"]
        await until_seq(live, last, live_view)
        async with chat.socket(cid_t) as back:
            await send_json(back, type="resume", room=room, after=second["seq"])
            frames = await until_seq(back, last, offline_view)
            resumed = await expect(back, "resumed")
            assert resumed == {"type": "resumed", "room": room, "last_seq": last}
            seqs = [f["seq"] for f in frames if "seq" in f]
            assert seqs == list(range(second["seq"] + 1, last + 1))  # every event once, in order
            assert await quiet(back) == []
        history = (await chat.http.get(url, headers=auth(bob_t))).json()["messages"]
        assert offline_view == live_view == from_history(history)
        assert live_view[first["id"]]["text"] == "1"
        assert live_view[second["id"]]["deleted"]
        assert live_view[first["id"]]["reactions"] == {"👍": {ann, bob, cid}}
        thread = (await chat.http.get(f"{one}/thread", headers=auth(cid_t))).json()
        assert thread["root"]["reply_count"] == 1
        assert [m["text"] for m in thread["replies"]] == ["re: one"]


async def test_dms_and_private_rooms_are_invisible_to_outsiders(chat: Chat) -> None:
    (ann, ann_t), (bob, bob_t), (_, eve_t) = [await chat.user() for _ in range(3)]
    async with chat.socket(bob_t) as bob_ws:
        opened = await chat.http.post("/api/dms", headers=auth(ann_t), json={"users": [bob]})
        assert opened.status_code == 201
        dm = opened.json()
        assert (
            dm["kind"] == "dm"
            and dm["private"]
            and sorted(dm["participants"]) == sorted([ann, bob])
        )
        added = await expect(bob_ws, "room_added", skip=("presence",))
        assert added["room"]["name"] == dm["name"] and added["room"]["member"]  # live, no poll
        again = await chat.http.post("/api/dms", headers=auth(bob_t), json={"users": [ann]})
        assert again.status_code == 200 and again.json()["name"] == dm["name"]
    private = await chat.http.post(
        "/api/rooms", headers=auth(ann_t), json={"name": f"p{dm['name'][3:13]}", "private": True}
    )
    assert private.status_code == 201
    for room in (dm["name"], private.json()["name"]):
        sent = await chat.http.post(
            f"/api/rooms/{room}/messages", headers=auth(ann_t), json={"text": "for us only"}
        )
        assert sent.status_code == 201
        listed = (await chat.http.get("/api/rooms", headers=auth(eve_t))).json()["rooms"]
        assert room not in {r["name"] for r in listed}
        for method, path in (
            ("GET", f"/api/rooms/{room}"),
            ("GET", f"/api/rooms/{room}/messages"),
            ("GET", f"/api/rooms/{room}/members"),
            ("POST", f"/api/rooms/{room}/members"),
            ("POST", f"/api/rooms/{room}/messages"),
        ):
            body = {"text": "let me in"} if path.endswith("messages") and method == "POST" else {}
            response = await chat.http.request(method, path, headers=auth(eve_t), json=body)
            assert (response.status_code, response.json()["error"]) == (404, "room_not_found")
        async with chat.socket(eve_t) as eve_ws:
            for frame in ({"type": "join"}, {"type": "resume", "after": 0}):
                await send_json(eve_ws, room=room, **frame)
                error = await expect(eve_ws, "error")
                assert (error["code"], error["room"]) == ("room_not_found", room)
            assert await quiet(eve_ws) == []
    # Too many people, or nobody real.
    many = await chat.http.post(
        "/api/dms", headers=auth(ann_t), json={"users": [f"x{i}xx" for i in range(9)]}
    )
    assert many.status_code == 422
    ghost = await chat.http.post("/api/dms", headers=auth(ann_t), json={"users": ["nobody-here"]})
    assert (ghost.status_code, ghost.json()["error"]) == (404, "user_not_found")


async def test_unread_counts_and_read_markers_agree_across_two_devices(chat: Chat) -> None:
    (_, ann_t), (bob, bob_t) = await chat.user(), await chat.user()
    _, bob_t2 = bob, await chat.token(bob)  # a second device: another sign-in
    room = await chat.room(ann_t, bob_t)
    url = f"/api/rooms/{room}/messages"
    last = 0
    for text in ("hello", f"hey @{bob}", "bye"):
        last = (await chat.http.post(url, headers=auth(ann_t), json={"text": text})).json()["seq"]

    async def counts(token: str) -> tuple[int, int, int]:
        rooms = (await chat.http.get("/api/rooms", headers=auth(token))).json()["rooms"]
        [mine] = [r for r in rooms if r["name"] == room]
        return mine["unread"], mine["mentions"], mine["read_seq"]

    assert await counts(bob_t) == await counts(bob_t2) == (3, 1, 0)
    async with chat.socket(bob_t) as phone, chat.socket(bob_t2) as laptop:
        await join(phone, room)
        joined = await join(laptop, room)
        assert (joined["read_seq"], joined["role"], joined["notify"]) == (0, "member", "all")
        await send_json(phone, type="read", room=room, seq=last - 1, client_id="m1")
        ack = await expect(phone, "ack", skip=("presence",))
        assert ack["client_id"] == "m1" and ack["seq"] == last + 1
        synced = await expect(laptop, "read", skip=("presence",))
        assert (synced["user"], synced["read_seq"]) == (bob, last - 1)
        assert await counts(bob_t) == await counts(bob_t2) == (1, 0, last - 1)
        marked = await chat.http.post(
            f"/api/rooms/{room}/read", headers=auth(bob_t2), json={"seq": last}
        )
        assert marked.json() == {"read_seq": last}
        # The phone hears its own marker first, then the laptop's.
        mine = await expect(phone, "read", skip=("presence",))
        assert mine["read_seq"] == last - 1
        synced = await expect(phone, "read", skip=("presence",))
        assert synced["read_seq"] == last
        assert await counts(bob_t) == await counts(bob_t2) == (0, 0, last)
        # Not forward: no event, the same marker.
        await send_json(laptop, type="read", room=room, seq=1, client_id="m2")
        assert (await expect(laptop, "ack", skip=("presence", "read")))["seq"] is None
    # Others never see a user's read markers.
    async with chat.socket(ann_t) as ann_ws:
        await send_json(ann_ws, type="resume", room=room, after=0)
        await expect(ann_ws, "resumed", skip=(*NOISE[:-1], "message"))
    notify = await chat.http.put(
        f"/api/rooms/{room}/notify", headers=auth(bob_t), json={"level": "mute"}
    )
    assert notify.json()["notify"] == "mute"
