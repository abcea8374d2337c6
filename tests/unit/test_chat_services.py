"""Chat services on a real SQLite store: accounts, rooms, seq + idempotency, bus events."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.migrate import upgrade_to_head
from confab.chat.domain import Token, User
from confab.chat.services import ChatConfig, ChatServices, build_chat_services
from confab.chat.services.passwords import HashParams
from confab.chat.services.sessions import token_id
from confab.core import jsoncodec
from confab.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from confab.core.memory import InProcessBus

# Cheap hashing: these tests are about behaviour, not argon2's cost.
FAST = HashParams(time_cost=1, memory_kib=64, parallelism=1)


@dataclass
class Clock:
    now: datetime = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Recorder:
    """Every frame published, per channel, decoded."""

    frames: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of(self, room: str) -> list[dict[str, Any]]:
        return self.frames.get(f"room.{room}", [])


@dataclass
class Chat:
    services: ChatServices
    store: SqlChatStore
    bus: InProcessBus
    clock: Clock
    published: Recorder

    async def listen(self, *rooms: str) -> None:
        for room in rooms:
            channel = f"room.{room}"

            async def record(frame: bytes, channel: str = channel) -> None:
                self.published.frames.setdefault(channel, []).append(jsoncodec.loads(frame))

            await self.bus.subscribe(channel, record)

    async def user(self, name: str) -> User:
        await self.services.accounts.register(name, "password-" + name)
        token = await self.services.accounts.sign_in(name, "password-" + name, "test")
        return await self.services.accounts.authenticate(token.token)


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    await upgrade_to_head(url)
    store = SqlChatStore.open(url, pool_size=4)
    bus = InProcessBus()
    clock = Clock()
    config = ChatConfig(
        signin_attempts=5,
        signin_address_attempts=8,
        register_burst=6,
        hash_params=FAST,
        token_ttl=timedelta(hours=1),
    )
    services = build_chat_services(store, bus, config, clock=clock)
    yield Chat(services, store, bus, clock, Recorder())
    await store.close()


# accounts


async def test_register_sign_in_authenticate_sign_out(chat: Chat) -> None:
    accounts = chat.services.accounts
    user = await accounts.register("Alice", "correct horse")
    assert user.username == "alice"
    stored = await chat.store.get_user("alice")
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert "correct horse" not in stored.password_hash

    token = await accounts.sign_in("ALICE", "correct horse", "1.2.3.4")
    assert isinstance(token, Token) and len(token.token) >= 40
    assert token.expires_at == chat.clock.now + timedelta(hours=1)
    assert await accounts.authenticate(token.token) == user
    # Only the hash of the token is stored.
    digest = hashlib.sha256(token.token.encode()).hexdigest()
    assert await chat.store.user_for_token(digest, chat.clock.now) is not None
    assert await chat.store.user_for_token(token.token, chat.clock.now) is None

    await accounts.sign_out(token.token)
    with pytest.raises(Unauthorized) as revoked:
        await accounts.authenticate(token.token)
    assert revoked.value.reason == "invalid_token"


async def test_registration_rules(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    with pytest.raises(Conflict) as taken:
        await accounts.register("ALICE", "password2")
    assert taken.value.reason == "username_taken"
    with pytest.raises(InvalidInput) as short:
        await accounts.register("bob", "short")
    assert short.value.reason == "password_too_short"
    with pytest.raises(InvalidInput) as bad:
        await accounts.register("b", "password1")
    assert bad.value.reason == "invalid_username"


async def test_wrong_credentials_get_one_answer(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    answers = []
    for username, password in [("alice", "wrong-pass"), ("nobody", "password1"), ("x", "y")]:
        with pytest.raises(Unauthorized) as refused:
            await accounts.sign_in(username, password, f"client-{username}")
        answers.append((refused.value.reason, refused.value.detail))
    assert len(set(answers)) == 1
    assert answers[0][0] == "bad_credentials"


async def test_sign_in_is_throttled_per_username_and_client(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await accounts.sign_in("alice", "guess-guess", "1.1.1.1")
    with pytest.raises(RateLimited) as throttled:
        await accounts.sign_in("alice", "password1", "1.1.1.1")  # even the right one
    assert throttled.value.reason == "signin_throttled"
    # Another client, or another username from this client, is not affected.
    await accounts.sign_in("alice", "password1", "2.2.2.2")
    with pytest.raises(Unauthorized):
        await accounts.sign_in("bob", "password1", "1.1.1.1")


async def test_a_username_spray_from_one_address_is_throttled_and_says_when(
    chat: Chat,
) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    for i in range(8):
        with pytest.raises(Unauthorized):
            await accounts.sign_in(f"user{i}", "guess-guess", "6.6.6.6")
    with pytest.raises(RateLimited) as throttled:
        await accounts.sign_in("user99", "guess-guess", "6.6.6.6")
    assert throttled.value.reason == "signin_throttled"
    assert throttled.value.retry_after > 0
    await accounts.sign_in("alice", "password1", "7.7.7.7")  # the owner, elsewhere


async def test_only_failures_count_the_owner_signs_in_again_and_again(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    for _ in range(20):  # well over both limits, all successes
        await accounts.sign_in("alice", "password1", "1.1.1.1")


async def test_registrations_are_limited_per_address(chat: Chat) -> None:
    accounts = chat.services.accounts
    for i in range(6):
        await accounts.register(f"new{i}", "password1", "8.8.8.8")
    with pytest.raises(RateLimited) as throttled:
        await accounts.register("new6", "password1", "8.8.8.8")
    assert throttled.value.reason == "register_throttled"
    await accounts.register("new6", "password1", "9.9.9.9")


async def test_tokens_expire(chat: Chat) -> None:
    accounts = chat.services.accounts
    await accounts.register("alice", "password1")
    token = await accounts.sign_in("alice", "password1", "c")
    chat.clock.now += timedelta(hours=1, seconds=1)
    with pytest.raises(Unauthorized):
        await accounts.authenticate(token.token)
    for bad in ("", "x" * 500, "not-a-token"):
        with pytest.raises(Unauthorized):
            await accounts.authenticate(bad)


async def test_hashing_does_not_block_the_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    await upgrade_to_head(url)
    store = SqlChatStore.open(url)
    config = ChatConfig(hash_params=HashParams(time_cost=3, memory_kib=32 * 1024))
    services = build_chat_services(store, InProcessBus(), config)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = asyncio.get_running_loop().time()
    await services.accounts.register("alice", "password1")
    elapsed = asyncio.get_running_loop().time() - started
    task.cancel()
    await store.close()
    # The loop kept ticking while the hash ran in a thread.
    assert ticks >= int(elapsed / 0.005 * 0.5)


# rooms


async def test_rooms_create_join_and_list(chat: Chat) -> None:
    rooms = chat.services.rooms
    alice, bob = await chat.user("alice"), await chat.user("bob")
    await chat.listen("lobby")
    view = await rooms.create(alice, "Lobby", "general talk")
    assert (view.room.name, view.room.owner, view.member, view.members) == (
        "lobby",
        "alice",
        True,
        1,
    )
    with pytest.raises(Conflict):
        await rooms.create(bob, "lobby")
    with pytest.raises(InvalidInput):
        await rooms.create(bob, "no spaces")
    await rooms.create(alice, "secret", private=True)

    assert [v.room.name for v in await rooms.list_for(bob)] == ["lobby"]
    joined = await rooms.join(bob, "lobby")
    assert joined.member and joined.members == 2
    await rooms.join(bob, "lobby")  # joining again is fine and publishes nothing
    assert chat.published.of("lobby") == [{"type": "member_joined", "room": "lobby", "user": "bob"}]
    assert await rooms.is_member(bob, "lobby")
    assert not await rooms.is_member(bob, "nope")
    assert await rooms.members("lobby") == ["alice", "bob"]
    with pytest.raises(NotFound) as missing:
        await rooms.join(bob, "nope")
    assert missing.value.reason == "room_not_found"


async def test_private_rooms_are_by_invitation(chat: Chat) -> None:
    rooms = chat.services.rooms
    alice, bob, carol = await chat.user("alice"), await chat.user("bob"), await chat.user("carol")
    await rooms.create(alice, "secret", private=True)
    await chat.listen("secret")
    # To a non-member, a private room is exactly a room that does not exist.
    missing = []
    for name in ("secret", "no-such-room"):
        for attempt in (
            rooms.join(bob, name),
            rooms.get(bob, name),
            rooms.invite(carol, name, "bob"),
            rooms.ban(carol, name, "alice"),
            rooms.remove(carol, name, "alice"),
            chat.services.messages.history(bob, name),
            chat.services.messages.send(bob, name, "hello?", "c1"),
        ):
            with pytest.raises(NotFound) as hidden:
                await attempt
            missing.append((hidden.value.reason, hidden.value.detail.replace(name, "?")))
    assert set(missing) == {("room_not_found", "no room '?'")}
    with pytest.raises(NotFound):
        await rooms.invite(alice, "secret", "nobody")
    await rooms.invite(alice, "secret", "Bob")
    assert await rooms.is_member(bob, "secret")
    assert (await rooms.get(bob, "secret")).members == 2
    assert chat.published.of("secret") == [
        {"type": "member_joined", "room": "secret", "user": "bob"}
    ]


async def test_leave_kick_and_ban(chat: Chat) -> None:
    rooms = chat.services.rooms
    alice, bob, carol = await chat.user("alice"), await chat.user("bob"), await chat.user("carol")
    await rooms.create(alice, "lobby")
    for user in (bob, carol):
        await rooms.join(user, "lobby")
    await chat.listen("lobby")

    await rooms.leave(bob, "lobby")
    with pytest.raises(NotFound):
        await rooms.leave(bob, "lobby")
    with pytest.raises(Forbidden) as stays:
        await rooms.leave(alice, "lobby")
    assert stays.value.reason == "owner_stays"
    with pytest.raises(Forbidden) as not_owner:
        await rooms.kick(bob, "lobby", "carol")
    assert not_owner.value.reason == "not_owner"
    await rooms.kick(alice, "lobby", "carol")
    await rooms.join(carol, "lobby")  # a kick is not a ban
    await rooms.ban(alice, "lobby", "carol")
    with pytest.raises(Forbidden) as banned:
        await rooms.join(carol, "lobby")
    assert banned.value.reason == "banned"
    with pytest.raises(Conflict):
        await rooms.invite(alice, "lobby", "carol")
    with pytest.raises(Forbidden):
        await rooms.ban(alice, "lobby", "alice")
    assert await rooms.members("lobby") == ["alice"]
    assert chat.published.of("lobby") == [
        {"type": "member_left", "room": "lobby", "user": "bob"},
        {"type": "member_left", "room": "lobby", "user": "carol"},
        {"type": "member_joined", "room": "lobby", "user": "carol"},
        {"type": "member_left", "room": "lobby", "user": "carol"},
    ]


# messages


async def test_send_assigns_seqs_and_publishes_the_frame_after_commit(chat: Chat) -> None:
    messages = chat.services.messages
    alice = await chat.user("alice")
    await chat.services.rooms.create(alice, "lobby")
    seen_in_store: list[bool] = []

    async def check_committed(frame: bytes) -> None:
        event = jsoncodec.loads(frame)
        # The frame arrives only once the message is readable by anyone.
        stored = await chat.store.messages_after((await chat.store.get_room("lobby")).id, 0, 100)  # type: ignore[union-attr]
        seen_in_store.append(any(m.id == event["id"] for m in stored))

    await chat.bus.subscribe("room.lobby", check_committed)
    await chat.listen("lobby")
    sent = [await messages.send(alice, "lobby", f"hello {i}", f"c{i}") for i in range(3)]
    assert [(m.seq, created) for m, created in sent] == [(1, True), (2, True), (3, True)]
    assert seen_in_store == [True, True, True]
    frames = chat.published.of("lobby")
    assert [f["seq"] for f in frames] == [1, 2, 3]
    first = frames[0]
    assert first["type"] == "message"
    assert first | {"created_at": None} == {
        "type": "message",
        "id": sent[0][0].id,
        "room": "lobby",
        "seq": 1,
        "author": "alice",
        "text": "hello 0",
        "created_at": None,
        "edited_at": None,
        "deleted": False,
        "attachments": [],
        "previews": [],
        "client_id": "c0",
    }


async def test_a_repeated_client_id_returns_the_first_message_once(chat: Chat) -> None:
    messages = chat.services.messages
    alice = await chat.user("alice")
    await chat.services.rooms.create(alice, "lobby")
    await chat.services.rooms.create(alice, "other")
    await chat.listen("lobby")
    first, created = await messages.send(alice, "lobby", "hi", "retry-me")
    again, created_again = await messages.send(alice, "lobby", "hi (retried)", "retry-me")
    assert created and not created_again and again == first
    concurrent = await asyncio.gather(
        *(messages.send(alice, "lobby", "burst", "burst-1") for _ in range(5))
    )
    assert sum(created for _, created in concurrent) == 1
    nxt, _ = await messages.send(alice, "lobby", "next")
    assert nxt.seq == 3  # no gap from the duplicates
    assert [f["seq"] for f in chat.published.of("lobby")] == [1, 2, 3]  # published once each
    with pytest.raises(Conflict) as reused:
        await messages.send(alice, "other", "hi", "retry-me")
    assert reused.value.reason == "client_id_reused"


async def test_concurrent_sends_are_published_in_seq_order(chat: Chat) -> None:
    messages = chat.services.messages
    alice, bob = await chat.user("alice"), await chat.user("bob")
    await chat.services.rooms.create(alice, "lobby")
    await chat.services.rooms.join(bob, "lobby")
    await chat.listen("lobby")
    await asyncio.gather(
        *(messages.send(user, "lobby", f"m{i}") for i in range(20) for user in (alice, bob))
    )
    assert [f["seq"] for f in chat.published.of("lobby")] == list(range(1, 41))


async def test_send_rules(chat: Chat) -> None:
    messages = chat.services.messages
    alice, bob = await chat.user("alice"), await chat.user("bob")
    await chat.services.rooms.create(alice, "lobby")
    with pytest.raises(Forbidden) as outsider:
        await messages.send(bob, "lobby", "let me in")
    assert outsider.value.reason == "not_a_member"
    with pytest.raises(NotFound):
        await messages.send(alice, "nope", "hello")
    for text, reason in [("", "text_empty"), ("x" * 4001, "text_too_long")]:
        with pytest.raises(InvalidInput) as bad:
            await messages.send(alice, "lobby", text)
        assert bad.value.reason == reason
    with pytest.raises(InvalidInput):
        await messages.send(alice, "lobby", "hi", attachments=["not-an-upload"])
    # Without a media client (a chat-only node) attachments are refused: see test_chat_media.
    with pytest.raises(Unavailable) as no_media:
        await messages.send(alice, "lobby", "a picture", attachments=["f" * 64])
    assert no_media.value.reason == "media_unavailable"


async def test_history_pages(chat: Chat) -> None:
    messages = chat.services.messages
    alice, bob = await chat.user("alice"), await chat.user("bob")
    await chat.services.rooms.create(alice, "lobby")
    for i in range(1, 8):
        await messages.send(alice, "lobby", f"m{i}")
    page, more = await messages.history(alice, "lobby", limit=3)
    assert [m.seq for m in page] == [5, 6, 7] and more
    page, more = await messages.history(alice, "lobby", before=5, limit=3)
    assert [m.seq for m in page] == [2, 3, 4] and more
    page, more = await messages.history(alice, "lobby", before=2, limit=3)
    assert [m.seq for m in page] == [1] and not more
    page, more = await messages.history(alice, "lobby", after=0, limit=4)
    assert [m.seq for m in page] == [1, 2, 3, 4] and more
    page, more = await messages.history(alice, "lobby", after=4, limit=4)
    assert [m.seq for m in page] == [5, 6, 7] and not more
    assert [m.seq for m in await messages.replay("lobby", 5)] == [6, 7]
    with pytest.raises(Forbidden):
        await messages.history(bob, "lobby")
    with pytest.raises(InvalidInput):
        await messages.history(alice, "lobby", limit=101)


async def test_edit_and_delete(chat: Chat) -> None:
    messages = chat.services.messages
    alice, bob = await chat.user("alice"), await chat.user("bob")
    await chat.services.rooms.create(alice, "lobby")
    await chat.services.rooms.join(bob, "lobby")
    mine, _ = await messages.send(bob, "lobby", "bob was here")
    await chat.listen("lobby")
    chat.clock.now += timedelta(minutes=5)

    with pytest.raises(Forbidden) as not_author:
        await messages.edit(alice, "lobby", mine.id, "owner rewrites")
    assert not_author.value.reason == "not_author"
    edited = await messages.edit(bob, "lobby", mine.id, "bob is here")
    assert edited.text == "bob is here" and edited.edited_at == chat.clock.now
    with pytest.raises(NotFound):
        await messages.edit(bob, "lobby", 10**6, "nothing")

    theirs, _ = await messages.send(alice, "lobby", "alice's")
    with pytest.raises(Forbidden):
        await messages.delete(bob, "lobby", theirs.id)
    deleted = await messages.delete(alice, "lobby", mine.id)  # the owner deletes anyone's
    assert deleted.deleted and deleted.text == "" and deleted.seq == mine.seq
    await messages.delete(bob, "lobby", mine.id)  # already deleted: no second event
    with pytest.raises(Conflict):
        await messages.edit(bob, "lobby", mine.id, "revive")
    page, _ = await messages.history(bob, "lobby")
    assert [(m.seq, m.deleted) for m in page] == [(1, True), (2, False)]

    frames = chat.published.of("lobby")
    assert [f["type"] for f in frames] == ["message_updated", "message", "message_deleted"]
    assert frames[0]["text"] == "bob is here" and frames[0]["edited_at"] is not None
    assert frames[2] == {"type": "message_deleted", "room": "lobby", "id": mine.id, "seq": 1}


async def test_previews_update_the_message(chat: Chat) -> None:
    messages = chat.services.messages
    alice = await chat.user("alice")
    await chat.services.rooms.create(alice, "lobby")
    message, _ = await messages.send(alice, "lobby", "see https://example.org")
    await chat.listen("lobby")
    preview = {"url": "https://example.org", "title": "Example", "description": "", "image": None}
    updated = await messages.set_previews("lobby", message.id, [preview])
    assert updated is not None and updated.previews == (preview,)
    assert chat.published.of("lobby")[0]["previews"] == [preview]
    assert await messages.set_previews("nope", message.id, [preview]) is None


async def test_a_failing_bus_never_fails_a_stored_send(chat: Chat) -> None:
    alice = await chat.user("alice")
    await chat.services.rooms.create(alice, "lobby")

    async def broken(frame: bytes) -> None:
        raise RuntimeError("bus down")

    await chat.bus.subscribe("room.lobby", broken)
    message, created = await chat.services.messages.send(alice, "lobby", "still stored")
    assert created
    page, _ = await chat.services.messages.history(alice, "lobby")
    assert [m.id for m in page] == [message.id]


async def test_valid_token_ids_after_a_sign_out(chat: Chat) -> None:
    accounts, sessions = chat.services.accounts, chat.services.sessions
    await accounts.register("alice", "password1")
    first = await accounts.sign_in("alice", "password1", "c")
    second = await accounts.sign_in("alice", "password1", "c")
    _, held = await sessions.list_tokens(first.token)
    ids = [token_id(record.token_hash) for record in held]
    assert len(ids) == 2
    await sessions.sign_out(second.token)
    current, _ = await sessions.list_tokens(first.token)
    assert await sessions.valid_token_ids("alice", [*ids, "nonsense"]) == {current}
    assert await sessions.valid_token_ids("nobody", ids) == set()
