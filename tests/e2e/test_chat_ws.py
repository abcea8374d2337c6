"""The chat WebSocket protocol on a real `confab serve --roles chat` process, real clients."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bench.procs import CHEAP_PASSWORD_HASHING, MANY_USERS_ONE_ADDRESS
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.tickets import ws_url

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
# Frames a test did not ask about (others coming and going) are skipped by `expect`.
NOISE = ("presence", "typing", "member_joined")
ENV = {
    **CHEAP_PASSWORD_HASHING,
    **MANY_USERS_ONE_ADDRESS,
    "CONFAB_DATABASE_SQLITE_SYNCHRONOUS": "NORMAL",
    "CONFAB_CHAT_WS_RATE": "200",
    "CONFAB_CHAT_WS_BURST": "400",
    "CONFAB_CHAT_WS_SEND_BUFFER_BYTES": "65536",
    "CONFAB_CHAT_WS_KERNEL_SEND_BUFFER_BYTES": "16384",
    "CONFAB_CHAT_PRESENCE_GRACE_SECONDS": "0.3",
    "CONFAB_CHAT_LARGE_ROOM_MEMBERS": "3",  # rooms of 4 and more count as large here
    "CONFAB_LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    data = tmp_path_factory.mktemp("chatws") / "data"
    with confab_server(data, "--roles", "chat", command="serve", env=ENV) as handle:
        yield handle


@dataclass
class Chat:
    """A test's view of the server: accounts, rooms, sockets."""

    server: ServerHandle
    http: httpx.AsyncClient

    async def user(self) -> tuple[str, str]:
        """A new account: (username, token)."""
        name = f"u{uuid.uuid4().hex[:10]}"
        body = {"username": name, "password": PASSWORD}
        assert (await self.http.post("/api/accounts", json=body)).status_code == 201
        token = (await self.http.post("/api/tokens", json=body)).json()["token"]
        return name, str(token)

    async def room(self, owner: str, *members: str) -> str:
        """A new public room owned by token `owner`, joined by the `members` tokens."""
        name = f"r{uuid.uuid4().hex[:10]}"
        response = await self.http.post("/api/rooms", json={"name": name}, headers=_auth(owner))
        assert response.status_code == 201, response.text
        for token in members:
            joined = await self.http.post(f"/api/rooms/{name}/members", headers=_auth(token))
            assert joined.status_code == 200, joined.text
        return name

    async def url(self, token: str) -> str:
        return await ws_url(self.server.url, token)

    @asynccontextmanager
    async def socket(self, token: str, **options: Any) -> AsyncIterator[ClientConnection]:
        """A connected socket past its `ready` frame."""
        async with connect(await self.url(token), **options) as ws:
            assert (await expect(ws, "ready"))["type"] == "ready"
            yield ws


def _metrics(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text page."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def chat(server: ServerHandle) -> AsyncIterator[Chat]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield Chat(server, http)


async def send_json(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(json.dumps(frame))


async def expect(
    ws: ClientConnection, kind: str, *, timeout: float = 5.0, skip: tuple[str, ...] = NOISE
) -> dict[str, Any]:
    """The next frame of type `kind`, skipping `skip` types; anything else fails the test."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame
        assert frame["type"] in skip, f"expected {kind}, got {frame}"


async def presence_of(ws: ClientConnection, user: str) -> dict[str, Any]:
    """The next presence frame about `user` (others' are skipped)."""
    while (frame := await expect(ws, "presence"))["user"] != user:
        pass
    return frame


async def join(ws: ClientConnection, room: str) -> dict[str, Any]:
    await send_json(ws, type="join", room=room)
    return await expect(ws, "joined")


async def quiet(ws: ClientConnection, keep: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Frames received until a ping's pong, but `NOISE` not in `keep`."""
    await send_json(ws, type="ping")
    frames = []
    while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "pong":
        if frame["type"] not in NOISE or frame["type"] in keep:
            frames.append(frame)
    return frames


async def test_join_send_ack_and_one_order_for_everyone(chat: Chat) -> None:
    (ann, ann_t), (bob, bob_t), (cid, cid_t) = [await chat.user() for _ in range(3)]
    room = await chat.room(ann_t, bob_t, cid_t)
    async with chat.socket(ann_t) as a, chat.socket(bob_t) as b, chat.socket(cid_t) as c:
        joined = await join(a, room)
        assert joined["last_seq"] == 0
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
        assert seqs == list(range(1, 31))
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
        figures = _metrics((await chat.http.get("/metrics")).text)
        assert figures["confab_ws_connections"] >= 3
        assert figures["confab_ws_deliveries_total"] >= 90
        # A repeated client_id acks the first message again and sends nothing new.
        await send_json(a, type="send", room=room, text="again?", client_id="a7")
        ack = await expect(a, "ack")
        assert (ack["id"], ack["seq"]) == (by_client["a7"]["id"], by_client["a7"]["seq"])
        assert await quiet(b) == []


async def test_resume_after_a_cut_replays_exactly_what_was_missed(chat: Chat) -> None:
    (_, ann_t), (_, bob_t) = await chat.user(), await chat.user()
    room = await chat.room(ann_t, bob_t)
    seen: list[int] = []
    async with chat.socket(ann_t) as a:
        async with chat.socket(bob_t) as b:
            await join(b, room)
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
            assert seen == list(range(1, 71))
            assert await quiet(b) == []


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
        await join(fast, room)
        text = "z" * 4000
        count = 300  # ~1.2 MB for the slow reader
        for i in range(count):
            await send_json(sender, type="send", room=room, text=text, client_id=f"s{i}")
        got = [(await expect(fast, "message", timeout=20))["seq"] for _ in range(count)]
        assert got == list(range(1, count + 1))
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
            await asyncio.sleep(0.5)  # longer than the grace period
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
        await asyncio.sleep(0.5)  # past the grace period: still no presence frame
        assert await quiet(a, keep=("presence",)) == []


async def test_a_kicked_member_stops_receiving(chat: Chat) -> None:
    (_, ann_t), (bob, bob_t) = await chat.user(), await chat.user()
    room = await chat.room(ann_t, bob_t)
    async with chat.socket(ann_t) as a, chat.socket(bob_t) as b:
        await join(a, room)
        await join(b, room)
        kicked = await chat.http.delete(f"/api/rooms/{room}/members/{bob}", headers=_auth(ann_t))
        assert kicked.status_code == 204
        left = await expect(b, "member_left")
        assert left["user"] == bob
        await send_json(a, type="send", room=room, text="secret", client_id="k1")
        await expect(a, "ack", skip=(*NOISE, "member_left", "message"))
        assert await quiet(b) == []
