"""The room event log, on every ChatStore (memory, SQLite, PostgreSQL).

What is replayed is exactly what was published (redactions applied), seqs have no gap,
repeats take no seq, and the state folded into messages (reactions, threads, mentions) and
into the room list (unread, mentions) agrees with the log.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from confab.core.chatstore import (
    REACTION_USERS,
    UNREAD_CAP,
    ChatStore,
    ReactionSummary,
    RoomRecord,
    UserRecord,
)
from confab.core.errors import Forbidden, NotFound
from confab.core.roomlog import RoomEvent
from tests.contract.chat_records import NOW, frame, new_message, room, user, whole_log
from tests.contract.chat_stores import KINDS, open_stores


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChatStore]:
    async with open_stores(request.param, tmp_path) as (chat_store,):
        yield chat_store


async def _say(
    store: ChatStore, where: RoomRecord, author: UserRecord, text: str, **extra: object
) -> tuple[int, RoomEvent]:
    message, event = await store.append_message(
        new_message(where, author, text, at=NOW, **extra)  # type: ignore[arg-type]
    )
    assert event is not None
    return message.id, event


async def _unread(store: ChatStore, who: UserRecord, name: str) -> tuple[int, int]:
    listed = {s.room.name: s for s in await store.list_rooms(who.id)}
    return listed[name].unread, listed[name].mentions


async def test_the_log_replays_exactly_what_was_published(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    published: list[RoomEvent | None] = [await store.add_member(lobby.id, bob.id, bob.id, NOW)]
    first, event = await _say(store, lobby, alice, "hello")
    published.append(event)
    published.append((await _say(store, lobby, bob, "reply", reply_to=first))[1])
    published.append(await store.add_reaction(lobby.id, first, bob.id, "🎉", NOW))
    published.append((await store.edit_message(lobby.id, first, "hello!", alice.id, NOW))[1])
    published.append(await store.set_topic(lobby.id, "news", bob.id, NOW))
    published.extend(await store.set_role(lobby.id, bob.id, "moderator", alice.id, NOW))
    published.append(await store.mark_read(lobby.id, bob.id, 100, NOW))
    published.append(await store.remove_reaction(lobby.id, first, bob.id, "🎉", NOW))
    published.append(await store.remove_member(lobby.id, bob.id, alice.id, "kicked", NOW))
    assert all(e is not None for e in published)
    replayed = await whole_log(store, lobby.id)
    assert replayed == published
    assert [e.seq for e in replayed] == list(range(1, len(published) + 1))
    assert [frame(e)["seq"] for e in replayed] == [e.seq for e in replayed]
    assert all(frame(e)["room"] == "lobby" for e in replayed)
    # Pages of the log join up, and a limit of 0 or a seq past the end gives nothing.
    assert await store.events_after(lobby.id, 3, 2) == published[3:5]
    assert await store.events_after(lobby.id, len(published), 10) == []
    assert await store.events_after(lobby.id, 0, 0) == []
    assert await store.events_after(10**6, 0, 10) == []
    read = frame(published[7])
    assert read == {"type": "read", "room": "lobby", "seq": 8, "user": "bob", "read_seq": 7}


async def test_repeats_take_no_seq(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    await store.add_member(lobby.id, bob.id, bob.id, NOW)
    message, _ = await _say(store, lobby, alice, "hi")
    assert await store.add_reaction(lobby.id, message, bob.id, "👍", NOW) is not None
    for _ in range(3):
        assert await store.add_reaction(lobby.id, message, bob.id, "👍", NOW) is None
        assert await store.add_member(lobby.id, bob.id, alice.id, NOW) is None
        assert await store.remove_reaction(lobby.id, message, bob.id, "👀", NOW) is None
        assert await store.mark_read(lobby.id, alice.id, 0, NOW) is None
        assert await store.set_topic(lobby.id, "about lobby", alice.id, NOW) is None
    after, _ = await _say(store, lobby, bob, "next")
    stored = await store.get_message(lobby.id, after)
    assert stored is not None and stored.seq == 4
    assert [e.seq for e in await whole_log(store, lobby.id)] == [1, 2, 3, 4]


async def test_deleting_a_message_redacts_the_events_that_carried_it(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    await store.add_member(lobby.id, bob.id, bob.id, NOW)
    upload = {"id": "cd" * 32, "width": 1, "height": 1, "thumbnail_url": "t", "full_url": "f"}
    secret, posted = await _say(
        store, lobby, alice, "secret @bob", attachments=(upload,), mentions=("bob",)
    )
    kept, kept_event = await _say(store, lobby, bob, "unrelated")
    edited = (await store.edit_message(lobby.id, secret, "still secret", alice.id, NOW))[1]
    preview = {"url": "https://secret.example", "title": "S", "description": None, "image": None}
    previews = await store.set_previews(lobby.id, secret, [preview])
    assert previews is not None and previews[1] is not None
    reacted = await store.add_reaction(lobby.id, secret, bob.id, "😮", NOW)
    assert await _unread(store, bob, "lobby") == (1, 1)

    record, deleted = await store.delete_message(lobby.id, secret, alice.id, NOW)
    assert record.deleted and record.reactions == () and record.mentions == ()
    log = {e.seq: e for e in await whole_log(store, lobby.id)}
    message = frame(log[posted.seq])
    assert (message["text"], message["attachments"], message["previews"]) == ("", [], [])
    assert (message["deleted"], message["mentions"], message["id"]) == (True, [], secret)
    assert frame(log[edited.seq if edited else 0])["text"] == ""
    assert frame(log[previews[1].seq])["previews"] == []
    assert log[kept_event.seq] == kept_event  # other messages' events untouched
    assert log[reacted.seq if reacted else 0] == reacted
    assert frame(log[deleted.seq if deleted else 0])["target"] == secret
    for event in log.values():
        assert b"secret" not in event.payload
    # Its mention and unread no longer count; its reactions are gone.
    assert await _unread(store, bob, "lobby") == (0, 0)
    assert await store.remove_reaction(lobby.id, secret, bob.id, "😮", NOW) is None
    with pytest.raises(NotFound):
        await store.add_reaction(lobby.id, secret, bob.id, "😮", NOW)
    assert kept > secret


async def test_reactions_are_summed_with_who_reacted(store: ChatStore) -> None:
    people = [await user(store, f"user{i:02}") for i in range(REACTION_USERS + 2)]
    lobby = await room(store, "lobby", people[0])
    for person in people[1:]:
        await store.add_member(lobby.id, person.id, person.id, NOW)
    message, _ = await _say(store, lobby, people[0], "react to me")
    added = await store.add_reaction(lobby.id, message, people[1].id, "👍", NOW)
    assert frame(added) == {
        "type": "reaction_added",
        "room": "lobby",
        "seq": added.seq if added else 0,
        "target": message,
        "emoji": "👍",
        "user": "user01",
    }
    assert added is not None and added.subject == "user01"
    await store.add_reaction(lobby.id, message, people[2].id, "❤️", NOW)
    for person in people:
        await store.add_reaction(lobby.id, message, person.id, "👍", NOW)
    removed = await store.remove_reaction(lobby.id, message, people[2].id, "❤️", NOW)
    assert frame(removed)["type"] == "reaction_removed"
    await store.add_reaction(lobby.id, message, people[3].id, "❤️", NOW)
    stored = await store.get_message(lobby.id, message)
    assert stored is not None
    thumbs = ReactionSummary(
        "👍",
        len(people),
        tuple(p.username for p in [people[1], people[0], *people[2:]][:REACTION_USERS]),
    )
    # Emojis in the order of their oldest standing reaction.
    assert stored.reactions == (thumbs, ReactionSummary("❤️", 1, ("user03",)))
    page = await store.messages_before(lobby.id, None, 10)
    assert page[-1].reactions == stored.reactions
    with pytest.raises(NotFound) as missing:
        await store.add_reaction(lobby.id, 10**6, people[0].id, "👍", NOW)
    assert missing.value.reason == "message_not_found"


async def test_replies_fold_into_their_thread_root(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    other = await room(store, "other", alice)
    await store.add_member(lobby.id, bob.id, bob.id, NOW)
    root, _ = await _say(store, lobby, alice, "root")
    later = NOW + timedelta(minutes=5)
    first, first_event = await _say(store, lobby, bob, "first reply", reply_to=root)
    assert (frame(first_event)["reply_to"], frame(first_event)["thread_root"]) == (root, root)
    nested, _ = await store.append_message(
        new_message(lobby, alice, "reply to the reply", at=later, reply_to=first)
    )
    assert (nested.reply_to, nested.thread_root) == (first, root)
    await _say(store, lobby, alice, "not in the thread")
    stored_root = await store.get_message(lobby.id, root)
    assert stored_root is not None
    assert (stored_root.reply_count, stored_root.last_reply_at) == (2, later)
    thread = await store.thread(lobby.id, root, 10)
    assert [m.text for m in thread] == ["root", "first reply", "reply to the reply"]
    assert [m.text for m in await store.thread(lobby.id, root, 1)] == ["root", "first reply"]
    assert await store.thread(other.id, root, 10) == []
    assert await store.thread(lobby.id, 10**6, 10) == []
    # Replies are in the main timeline too.
    timeline = await store.messages_after(lobby.id, 0, 10)
    assert [m.text for m in timeline][1:3] == ["first reply", "reply to the reply"]
    with pytest.raises(NotFound) as elsewhere:
        await store.append_message(new_message(other, alice, "x", at=NOW, reply_to=root))
    assert elsewhere.value.reason == "reply_not_found"
    assert (await store.get_room("other")) == other  # the refused reply took no seq


async def test_mentions_reach_members_only_and_room_mentions_everyone(store: ChatStore) -> None:
    alice, bob, carol = [await user(store, n) for n in ("alice", "bob", "carol")]
    await user(store, "dave")  # an account, not a member
    lobby = await room(store, "lobby", alice)
    for member in (bob, carol):
        await store.add_member(lobby.id, member.id, member.id, NOW)
    message, event = await _say(
        store,
        lobby,
        alice,
        "@bob @dave @alice @nobody",
        mentions=("bob", "dave", "alice", "nobody"),
    )
    assert frame(event)["mentions"] == ["bob"]  # members only, never the author
    stored = await store.get_message(lobby.id, message)
    assert stored is not None and stored.mentions == ("bob",) and not stored.mentions_room
    assert await _unread(store, bob, "lobby") == (1, 1)
    assert await _unread(store, carol, "lobby") == (1, 0)
    announced, event = await _say(store, lobby, bob, "@room hi", mentions_room=True)
    assert frame(event)["mentions_room"] is True
    assert await _unread(store, alice, "lobby") == (1, 1)
    assert await _unread(store, carol, "lobby") == (2, 1)
    assert await _unread(store, bob, "lobby") == (1, 1)  # not by his own @room
    assert announced > message


async def test_unread_counts_follow_the_read_marker(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    await store.add_member(lobby.id, bob.id, bob.id, NOW)
    ids = [(await _say(store, lobby, alice, f"m{i}", mentions=("bob",)))[0] for i in range(5)]
    await _say(store, lobby, bob, "mine")  # one's own messages are never unread
    await store.delete_message(lobby.id, ids[4], alice.id, NOW)  # nor deleted ones
    assert await _unread(store, bob, "lobby") == (4, 4)
    third = await store.get_message(lobby.id, ids[2])
    assert third is not None
    moved = await store.mark_read(lobby.id, bob.id, third.seq, NOW)
    assert frame(moved)["read_seq"] == third.seq
    assert await _unread(store, bob, "lobby") == (1, 1)
    assert await store.mark_read(lobby.id, bob.id, third.seq - 1, NOW) is None  # no going back
    access = await store.room_access("lobby", bob.id)
    assert access is not None and access.read_seq == third.seq
    # Clamped to the room's last seq (taken before the marker's own event).
    before = await store.get_room("lobby")
    assert before is not None
    clamped = await store.mark_read(lobby.id, bob.id, 10**9, NOW)
    assert frame(clamped)["read_seq"] == before.last_seq
    assert clamped is not None and clamped.seq == before.last_seq + 1
    assert await _unread(store, bob, "lobby") == (0, 0)
    outsider = await user(store, "carol")
    assert await store.mark_read(lobby.id, outsider.id, 3, NOW) is None


async def test_unread_counts_stop_at_the_cap(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    await store.add_member(lobby.id, bob.id, bob.id, NOW)
    for i in range(UNREAD_CAP + 5):
        await store.append_message(new_message(lobby, alice, f"m{i}", at=NOW))
    assert await _unread(store, bob, "lobby") == (UNREAD_CAP, 0)


async def test_writes_from_a_non_member_are_refused_in_their_transaction(
    store: ChatStore,
) -> None:
    """Sessions write on the membership cached at join: the store is the last word."""
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    await store.add_member(lobby.id, bob.id, bob.id, NOW)
    first, _ = await _say(store, lobby, alice, "hello")
    await store.add_reaction(lobby.id, first, bob.id, "👍", NOW)
    await store.remove_member(lobby.id, bob.id, alice.id, "kicked", NOW)
    before = (await store.get_room("lobby")).last_seq  # type: ignore[union-attr]
    refused = [
        lambda: store.append_message(new_message(lobby, bob, "sneaky", at=NOW, client_id="c1")),
        lambda: store.add_reaction(lobby.id, first, bob.id, "🎉", NOW),
        lambda: store.remove_reaction(lobby.id, first, bob.id, "👍", NOW),
        lambda: store.add_reaction(lobby.id, 10**9, bob.id, "🎉", NOW),
    ]
    for attempt in refused:
        with pytest.raises(Forbidden) as caught:
            await attempt()
        assert caught.value.reason == "not_a_member"
    assert await store.mark_read(lobby.id, bob.id, before, NOW) is None
    assert (await store.get_room("lobby")).last_seq == before  # type: ignore[union-attr]
    assert (await store.get_message(lobby.id, first)).reactions == (  # type: ignore[union-attr]
        ReactionSummary("👍", 1, ("bob",)),
    )


async def test_list_counts_agree_with_the_log_through_any_mix_of_writes(
    store: ChatStore,
) -> None:
    """Sends (some mentioning people, some @room), deletions, read markers, leaves, kicks
    and rejoins in a seeded random order: each member's unread count is always the count of
    messages by others, not deleted, past their marker; their mention count the count of
    those messages that mentioned them while they were members (a mention outlives a leave,
    and counts again after a rejoin, whose marker is 0); the member count the members (the
    SQL store keeps all three as counters, the memory store counts)."""
    rng = random.Random(14)
    people = [await user(store, name) for name in ("alice", "bob", "carol", "dave")]
    lobby = await room(store, "lobby", people[0])
    inside = {people[0].id}
    live: list[int] = []
    mentioned: dict[int, set[int]] = {}  # message id -> ids of the members it mentioned

    async def check() -> None:
        history = await store.messages_after(lobby.id, 0, 10_000)
        for person in people:
            listed = {s.room.name: s for s in await store.list_rooms(person.id)}["lobby"]
            assert listed.members == len(inside) == await store.member_count(lobby.id)
            if person.id not in inside:
                assert (listed.member, listed.unread, listed.mentions) == (False, 0, 0)
                continue
            unread = [
                m
                for m in history
                if m.seq > listed.read_seq and m.author != person.username and not m.deleted
            ]
            mentions = sum(1 for m in unread if person.id in mentioned.get(m.id, ()))
            got = (listed.unread, listed.mentions)
            assert got == (min(len(unread), UNREAD_CAP), mentions), (person.username, listed)

    for _ in range(160):
        person = rng.choice(people)
        roll = rng.random()
        if person.id not in inside:
            await store.add_member(lobby.id, person.id, person.id, NOW)
            inside.add(person.id)
        elif roll < 0.5:
            names = tuple(p.username for p in rng.sample(people, rng.randrange(3)))
            everyone = rng.random() < 0.1
            message, _ = await _say(
                store, lobby, person, "hi", mentions=names, mentions_room=everyone
            )
            targets = {p.id for p in people if p.username in names or everyone}
            mentioned[message] = (targets & inside) - {person.id}
            live.append(message)
        elif roll < 0.62 and live:
            await store.delete_message(lobby.id, live.pop(rng.randrange(len(live))), person.id, NOW)
        elif roll < 0.85:
            last = (await store.get_room("lobby")).last_seq  # type: ignore[union-attr]
            await store.mark_read(lobby.id, person.id, rng.randrange(last + 1), NOW)
        elif person.id != people[0].id:
            if rng.random() < 0.5:
                await store.remove_member(lobby.id, person.id, person.id, "left", NOW)
            else:
                await store.ban(lobby.id, person.id, people[0].id, NOW)
                await store.unban(lobby.id, person.id, people[0].id, NOW)
            inside.discard(person.id)
        await check()
