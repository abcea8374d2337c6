"""The chat WebSocket protocol on a real `confab serve --roles chat` process, real clients."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.server import ServerHandle
from tests.e2e.wskit import (
    NOISE,
    Chat,
    auth,
    chat_node,
    expect,
    join,
    metrics,
    open_chat,
    presence_of,
    quiet,
    send_json,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with chat_node(tmp_path_factory, "chatws") as handle:
        yield handle


@pytest.fixture
async def chat(server: ServerHandle) -> AsyncIterator[Chat]:
    async with open_chat(server) as opened:
        yield opened


async def test_join_send_ack_and_one_order_for_everyone(chat: Chat) -> None:
    (ann, ann_t), (bob, bob_t), (cid, cid_t) = [await chat.user() for _ in range(3)]
    room = await chat.room(ann_t, bob_t, cid_t)
    async with chat.socket(ann_t) as a, chat.socket(bob_t) as b, chat.socket(cid_t) as c:
        joined = await join(a, room)
        base = joined["last_seq"]
        assert base == 2  # bob and cid joining are the room's first events
        assert joined["role"] == "owner" and joined["read_seq"] == 0
        assert {m["user"] for m in joined["members"]} == {ann, bob, cid}
        await join(b, room)
        await join(c, room)
        # Two senders interleave without waiting for acks.
        for i in range(15):
            await send_json(a, type="send", room=room, text=f"a{i}", client_id=f"a{i}")
            await send_json(b, type="send", room=room, text=f"b{i}", client_id=f"b{i}")
        streams: dict[str, list[dict[str, Any]]] = {}
        acks: dict[str, dict[str, int]] = {"a": {}, "b": {}}
        for label, ws in (("a", a), ("b", b), ("c", c)):
            got: list[dict[str, Any]] = []
            while len(got) < 30 or (label in acks and len(acks[label]) < 15):
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame["type"] == "message":
                    got.append(frame)
                elif frame["type"] == "ack":
                    acks[label][frame["client_id"]] = frame["seq"]
                else:
                    assert frame["type"] in NOISE, frame
            streams[label] = got
        seqs = [m["seq"] for m in streams["a"]]
        assert seqs == list(range(base + 1, base + 31))
        assert streams["a"] == streams["b"] == streams["c"]
        by_client = {m["client_id"]: m for m in streams["a"]}
        assert [by_client[f"a{i}"]["text"] for i in range(15)] == [f"a{i}" for i in range(15)]
        assert by_client["b3"]["author"] == bob and by_client["a3"]["author"] == ann
        for label in ("a", "b"):
            for client_id, seq in acks[label].items():
                assert by_client[client_id]["seq"] == seq
        # A client's own sends keep their order.
        assert [by_client[f"b{i}"]["seq"] for i in range(15)] == sorted(
            by_client[f"b{i}"]["seq"] for i in range(15)
        )
        figures = metrics((await chat.http.get("/metrics")).text)
        assert figures["confab_ws_connections"] >= 3
        assert figures["confab_ws_deliveries_total"] >= 90
        # A repeated client_id acks the first message again and sends nothing new.
        await send_json(a, type="send", room=room, text="again?", client_id="a7")
        ack = await expect(a, "ack")
        assert (ack["id"], ack["seq"]) == (by_client["a7"]["id"], by_client["a7"]["seq"])
        assert [f["type"] for f in await quiet(b)] in ([], ["room_removed"])


async def test_resume_after_a_cut_replays_exactly_what_was_missed(chat: Chat) -> None:
    (_, ann_t), (_, bob_t) = await chat.user(), await chat.user()
    room = await chat.room(ann_t, bob_t)
    seen: list[int] = []
    async with chat.socket(ann_t) as a:
        async with chat.socket(bob_t) as b:
            base = (await join(b, room))["last_seq"]
            for i in range(5):
                await send_json(a, type="send", room=room, text=f"m{i}", client_id=f"c{i}")
                await expect(a, "ack")
            seen += [(await expect(b, "message"))["seq"] for _ in range(5)]
            b.transport.abort()  # the network goes away, no close handshake
        for i in range(5, 40):
            await send_json(a, type="send", room=room, text=f"m{i}", client_id=f"c{i}")
            await expect(a, "ack")

        async def keep_sending() -> None:  # live traffic during the replay
            for i in range(40, 70):
                await send_json(a, type="send", room=room, text=f"m{i}", client_id=f"c{i}")
                await expect(a, "ack")

        async with chat.socket(bob_t) as b:
            sender = asyncio.create_task(keep_sending())
            await send_json(b, type="resume", room=room, after=seen[-1])
            resumed: dict[str, Any] | None = None
            while len(seen) < 70:
                frame = json.loads(await asyncio.wait_for(b.recv(), 5))
                if frame["type"] == "message":
                    seen.append(frame["seq"])
                elif frame["type"] == "resumed":
                    resumed = frame
                    assert seen[-1] == frame["last_seq"]
            await sender
            assert resumed is not None
            assert seen == list(range(base + 1, base + 71))
            assert [f["type"] for f in await quiet(b)] in ([], ["room_removed"])


async def test_bad_frames_get_errors_and_keep_the_connection(chat: Chat) -> None:
    (_, ann_t), (_, bob_t) = await chat.user(), await chat.user()
    room = await chat.room(ann_t)
    async with chat.socket(bob_t) as ws:
        cases: list[tuple[str | bytes, str]] = [
            ("{nope", "invalid_json"),
            ('["list"]', "invalid_frame"),
            ('{"type":"dance"}', "unknown_type"),
            ('{"type":"join"}', "missing_field"),
            (json.dumps({"type": "ping", "pad": "x" * 70_000}), "too_large"),
            (json.dumps({"type": "join", "room": room}), "not_a_member"),
            (json.dumps({"type": "join", "room": "nosuchroom"}), "room_not_found"),
            (json.dumps({"type": "typing", "room": room}), "not_joined"),
            (json.dumps({"type": "resume", "room": room, "after": -3}), "invalid_field"),
        ]
        for data, code in cases:
            await ws.send(data)
            error = await expect(ws, "error")
            assert error["code"] == code, (data[:60], error)
            assert error["message"]
        await send_json(ws, type="send", room=room, text="hi", client_id="x1")
        error = await expect(ws, "error")
        assert (error["code"], error["client_id"], error["room"]) == ("not_a_member", "x1", room)
        await send_json(ws, type="ping")
        assert await expect(ws, "pong") == {"type": "pong"}
    async with chat.socket(ann_t) as ws:
        await send_json(ws, type="send", room=room, text="y" * 4001, client_id="long")
        error = await expect(ws, "error")
        assert (error["code"], error["client_id"]) == ("text_too_long", "long")


async def test_a_bad_used_or_missing_ticket_is_refused_at_the_handshake(chat: Chat) -> None:
    _, token = await chat.user()
    url = await chat.url(token)
    async with connect(url) as ws:
        assert (await expect(ws, "ready"))["type"] == "ready"
    base = chat.server.url.replace("http://", "ws://")
    # The same ticket again, a made-up one, none, and the session token itself.
    for refused in (url, f"{base}/ws?ticket=nope", f"{base}/ws", f"{base}/ws?token={token}"):
        with pytest.raises(InvalidStatus) as info:
            async with connect(refused):
                pass
        assert info.value.response.status_code == 403


async def test_flooding_is_rate_limited_then_closed_with_4008(chat: Chat) -> None:
    _, token = await chat.user()
    async with chat.socket(token) as ws:
        limited = 0
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(2000):
                await send_json(ws, type="ping")
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                limited += frame["type"] == "error" and frame["code"] == "rate_limited"
    assert info.value.rcvd is not None and info.value.rcvd.code == 4008
    assert limited >= 1


async def test_a_slow_reader_is_closed_with_4009_while_others_keep_receiving(chat: Chat) -> None:
    (_, ann_t), (_, slow_t), (_, fast_t) = [await chat.user() for _ in range(3)]
    room = await chat.room(ann_t, slow_t, fast_t)
    # A tiny receive buffer and a one-message client queue: this client soon stops reading.
    sock = socket.create_connection(("127.0.0.1", int(chat.server.url.rsplit(":", 1)[1])))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    async with (
        chat.socket(slow_t, sock=sock, max_queue=1) as slow,
        chat.socket(fast_t) as fast,
        chat.socket(ann_t) as sender,
    ):
        await join(slow, room)
        base = (await join(fast, room))["last_seq"]
        text = "z" * 4000
        count = 300  # ~1.2 MB for the slow reader
        for i in range(count):
            await send_json(sender, type="send", room=room, text=text, client_id=f"s{i}")
        got = [(await expect(fast, "message", timeout=20))["seq"] for _ in range(count)]
        assert got == list(range(base + 1, base + count + 1))
        for _ in range(count):  # a client that leaves frames unread cannot close quickly
            await expect(sender, "ack")
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(slow.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4009
        # The room goes on.
        await send_json(sender, type="send", room=room, text="after", client_id="after")
        assert (await expect(fast, "message"))["text"] == "after"
        await expect(sender, "ack")


async def test_presence_and_typing(chat: Chat) -> None:
    (ann, ann_t), (bob, bob_t), (cid, cid_t) = [await chat.user() for _ in range(3)]
    room = await chat.room(ann_t, bob_t, cid_t)
    async with chat.socket(ann_t) as a:
        joined = await join(a, room)
        assert {m["user"]: m["online"] for m in joined["members"]} == {
            ann: True,
            bob: False,
            cid: False,
        }
        assert joined["member_count"] == 3 and "members_partial" not in joined
        async with chat.socket(bob_t) as b:
            joined = await join(b, room)
            assert {m["user"]: m["online"] for m in joined["members"]}[ann] is True
            online = await presence_of(a, bob)
            assert online == {"type": "presence", "room": room, "user": bob, "online": True}
            await send_json(b, type="typing", room=room)
            await send_json(b, type="typing", room=room)  # throttled: not published
            typing = await expect(a, "typing", skip=("presence",))
            assert typing == {"type": "typing", "room": room, "user": bob}
            assert await quiet(a, keep=("typing",)) == []
        offline = await presence_of(a, bob)
        assert offline == {"type": "presence", "room": room, "user": bob, "online": False}


async def test_a_reconnect_within_the_grace_period_is_not_seen(chat: Chat) -> None:
    (_, ann_t), (bob, bob_t) = await chat.user(), await chat.user()
    room = await chat.room(ann_t, bob_t)
    async with chat.socket(ann_t) as a:
        await join(a, room)
        async with chat.socket(bob_t) as b:
            await join(b, room)
            await presence_of(a, bob)
        async with chat.socket(bob_t) as b:  # reload: back and joined within 0.3 s
            await send_json(b, type="resume", room=room, after=0)
            await expect(b, "resumed")
            assert await others_presence_for_a_grace_period(chat, ann_t, a) == []
            assert await quiet(a, keep=("presence",)) == []


async def test_a_large_room_lists_some_members_and_sends_no_presence(chat: Chat) -> None:
    users = [await chat.user() for _ in range(4)]
    (ann, ann_t), (bob, bob_t) = users[0], users[1]
    room = await chat.room(ann_t, *(token for _, token in users[1:]))
    async with chat.socket(ann_t) as a, chat.socket(bob_t) as b:
        joined = await join(a, room)
        assert joined["member_count"] == 4 and joined["members_partial"] is True
        assert joined["members"] == [{"user": ann, "online": True}]
        joined = await join(b, room)
        assert sorted(m["user"] for m in joined["members"]) == sorted([ann, bob])
        await send_json(b, type="send", room=room, text="hello all", client_id="l1")
        assert (await expect(a, "message", skip=()))["text"] == "hello all"
    async with chat.socket(ann_t) as a:
        await join(a, room)
        async with chat.socket(bob_t) as b:
            await join(b, room)
        assert await others_presence_for_a_grace_period(chat, ann_t, a) == []
        assert await quiet(a, keep=("presence",)) == []


async def test_a_kicked_member_stops_receiving(chat: Chat) -> None:
    (_, ann_t), (bob, bob_t) = await chat.user(), await chat.user()
    room = await chat.room(ann_t, bob_t)
    async with chat.socket(ann_t) as a, chat.socket(bob_t) as b:
        await join(a, room)
        await join(b, room)
        kicked = await chat.http.delete(f"/api/rooms/{room}/members/{bob}", headers=auth(ann_t))
        assert kicked.status_code == 204
        left = await expect(b, "member_left", skip=(*NOISE, "room_removed"))
        assert left["user"] == bob and left["reason"] == "kicked"
        await send_json(a, type="send", room=room, text="secret", client_id="k1")
        await expect(a, "ack", skip=(*NOISE, "member_left", "message"))
        assert [f["type"] for f in await quiet(b)] in ([], ["room_removed"])


async def others_presence_for_a_grace_period(
    chat: Chat, token: str, ws: ClientConnection
) -> list[dict[str, Any]]:
    """Presence frames `ws` receives about other rooms until every grace period begun
    before this call has ended, measured by the server's own timers, not a sleep: a
    witness joins a new room with `ws`'s user (`token`) and leaves; its offline frame comes
    one grace period after that, so the server has fired every earlier one by then."""
    witness, witness_t = await chat.user()
    room = await chat.room(token, witness_t)
    await send_json(ws, type="join", room=room)
    async with chat.socket(witness_t) as w:
        await join(w, room)
    seen = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] != "presence":
            continue
        if frame["room"] != room:
            seen.append(frame)
        elif frame["user"] == witness and not frame["online"]:
            return seen
