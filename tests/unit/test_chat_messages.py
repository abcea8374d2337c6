"""Message services on the in-memory store: seqs, idempotency, publish after commit,
history, edits and deletions as events, replies and threads, reactions, mentions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from confab.chat.busevent import decode
from confab.core import jsoncodec
from confab.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from tests.unit.chatkit import Chat, chat

__all__ = ["chat"]


async def test_send_assigns_seqs_and_publishes_the_frame_after_commit(chat: Chat) -> None:
    messages = chat.services.messages
    alice = await chat.user("alice")
    await chat.services.rooms.create(alice, "lobby")
    seen_in_store: list[bool] = []
    room = await chat.store.get_room("lobby")
    assert room is not None

    async def check_committed(message: bytes) -> None:
        event = jsoncodec.loads(decode(message).payload)
        # The frame arrives only once the message is readable by anyone.
        stored = await chat.store.messages_after(room.id, 0, 100)
        seen_in_store.append(any(m.id == event["id"] for m in stored))

    await chat.bus.subscribe("room.lobby", check_committed)
    await chat.listen("lobby")
    sent = [await messages.send(alice, "lobby", f"hello {i}", f"c{i}") for i in range(3)]
    assert [(m.seq, created) for m, created in sent] == [(1, True), (2, True), (3, True)]
    assert seen_in_store == [True, True, True]
    frames = chat.published.of("lobby")
    assert [f["seq"] for f in frames] == [1, 2, 3]
    assert frames[0] | {"created_at": None} == {
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
        "reply_to": None,
        "thread_root": None,
        "reply_count": 0,
        "last_reply_at": None,
        "reactions": [],
        "mentions": [],
        "mentions_room": False,
    }
    # The replayed log holds the very bytes that were published.
    replay = await chat.store.events_after(room.id, 0, 10)
    assert [jsoncodec.loads(e.payload) for e in replay] == frames


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


async def test_concurrent_changes_of_every_kind_are_published_in_seq_order(chat: Chat) -> None:
    messages, reactions = chat.services.messages, chat.services.reactions
    alice, bob = await chat.user("alice"), await chat.user("bob")
    await chat.services.rooms.create(alice, "lobby")
    await chat.services.members.join(bob, "lobby")
    root, _ = await messages.send(alice, "lobby", "root")
    await chat.listen("lobby")
    await asyncio.gather(
        *(messages.send(user, "lobby", f"m{i}") for i in range(10) for user in (alice, bob)),
        *(reactions.react(bob, "lobby", root.id, f"e{i}", True) for i in range(10)),
        *(chat.services.rooms.mark_read(alice, "lobby", i) for i in range(1, 10)),
    )
    seqs = [f["seq"] for f in chat.published.of("lobby")]
    assert seqs == list(range(3, 3 + len(seqs))) and len(seqs) >= 30


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
    with pytest.raises(NotFound) as no_reply:
        await messages.send(alice, "lobby", "re: nothing", reply_to=999)
    assert no_reply.value.reason == "reply_not_found"


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
    with pytest.raises(Forbidden):
        await messages.history(bob, "lobby")
    with pytest.raises(InvalidInput):
        await messages.history(alice, "lobby", limit=101)


async def test_edit_and_delete_are_events_and_deletion_redacts_the_log(chat: Chat) -> None:
    messages, members = chat.services.messages, chat.services.members
    alice, bob, carol = await chat.user("alice"), await chat.user("bob"), await chat.user("carol")
    await chat.services.rooms.create(alice, "lobby")
    await members.join(bob, "lobby")
    await members.join(carol, "lobby")
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
        await messages.delete(carol, "lobby", theirs.id)
    deleted = await messages.delete(alice, "lobby", mine.id)  # the owner deletes anyone's
    assert deleted.deleted and deleted.text == "" and deleted.seq == mine.seq
    await messages.delete(bob, "lobby", mine.id)  # already deleted: no second event
    with pytest.raises(Conflict):
        await messages.edit(bob, "lobby", mine.id, "revive")
    page, _ = await messages.history(bob, "lobby")
    assert [(m.seq, m.deleted) for m in page] == [(3, True), (5, False)]

    frames = chat.published.of("lobby")
    assert [(f["type"], f["seq"]) for f in frames] == [
        ("message_edited", 4),
        ("message", 5),
        ("message_deleted", 6),
    ]
    assert frames[0]["text"] == "bob is here" and frames[0]["target"] == mine.id
    assert frames[2] == {
        "type": "message_deleted",
        "room": "lobby",
        "seq": 6,
        "target": mine.id,
        "actor": "alice",
    }
    room = await chat.store.get_room("lobby")
    assert room is not None
    log = [jsoncodec.loads(e.payload) for e in await chat.store.events_after(room.id, 0, 20)]
    assert "bob was here" not in str(log) and "bob is here" not in str(log)


async def test_replies_threads_reactions_and_mentions(chat: Chat) -> None:
    messages, reactions, members = (
        chat.services.messages,
        chat.services.reactions,
        chat.services.members,
    )
    alice, bob, carol = await chat.user("alice"), await chat.user("bob"), await chat.user("carol")
    await chat.services.rooms.create(alice, "lobby")
    await members.join(bob, "lobby")
    await members.join(carol, "lobby")
    root, _ = await messages.send(alice, "lobby", "question @Bob and @nobody")
    assert root.mentions == ("bob",)
    reply, _ = await messages.send(bob, "lobby", "answer", reply_to=root.id)
    nested, _ = await messages.send(carol, "lobby", "@room me too", reply_to=reply.id)
    assert (reply.reply_to, reply.thread_root) == (root.id, root.id)
    assert nested.thread_root == root.id and not nested.mentions_room  # not a moderator
    loud, _ = await messages.send(alice, "lobby", "@room listen")
    assert loud.mentions_room
    head, replies, more = await messages.thread(carol, "lobby", root.id)
    assert head.reply_count == 2 and head.last_reply_at is not None and not more
    assert [m.id for m in replies] == [reply.id, nested.id]
    with pytest.raises(NotFound):
        await messages.thread(carol, "lobby", 999)

    first = await reactions.react(bob, "lobby", root.id, "👍", True)
    assert first is not None and first.type == "reaction_added"
    assert await reactions.react(bob, "lobby", root.id, "👍", True) is None  # idempotent
    await reactions.react(carol, "lobby", root.id, "👍", True)
    await reactions.react(carol, "lobby", root.id, "🎉", True)
    removed = await reactions.react(carol, "lobby", root.id, "🎉", False)
    assert removed is not None and removed.type == "reaction_removed"
    assert await reactions.react(carol, "lobby", root.id, "🎉", False) is None
    with pytest.raises(InvalidInput):
        await reactions.react(carol, "lobby", root.id, "two words", True)
    with pytest.raises(NotFound):
        await reactions.react(carol, "lobby", 999, "👍", True)
    room = await chat.store.get_room("lobby")
    assert room is not None
    stored = await chat.store.get_message(room.id, root.id)
    assert stored is not None
    assert [(r.emoji, r.count, r.users) for r in stored.reactions] == [("👍", 2, ("bob", "carol"))]
