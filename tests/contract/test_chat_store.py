"""Every ChatStore passes the same contract: in memory, SQLite (WAL) and PostgreSQL.

Accounts, rooms, DMs, membership, roles, bans and messages. The event log itself (events,
redaction, reactions, threads, mentions, unread counts) is in test_chat_log.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from confab.core.chatstore import (
    MAX_DM_USERS,
    ChatStore,
    MemberRecord,
    NewMessage,
    RoomRecord,
    UserRecord,
    dm_name,
)
from confab.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.contract.chat_records import NOW, frame, new_message, room, user, whole_log
from tests.contract.chat_stores import KINDS, open_stores


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChatStore]:
    async with open_stores(request.param, tmp_path) as (chat_store,):
        yield chat_store


def _new(
    where: RoomRecord, author: UserRecord, text: str, client_id: str | None = None
) -> NewMessage:
    return new_message(where, author, text, client_id, at=NOW)


# accounts and tokens


async def test_users_are_unique_and_round_trip(store: ChatStore) -> None:
    alice = await user(store, "alice")
    assert alice.id > 0
    found = await store.get_user("alice")
    assert found == alice
    assert found is not None and found.created_at == NOW
    assert found.created_at.tzinfo is not None
    assert await store.get_user("bob") is None
    with pytest.raises(Conflict) as taken:
        await user(store, "alice")
    assert taken.value.reason == "username_taken"
    await store.set_password_hash(alice.id, "new-hash")
    again = await store.get_user("alice")
    assert again is not None and again.password_hash == "new-hash"
    bob = await user(store, "bob")
    assert await store.users_named(["bob", "alice", "nobody"]) == {"alice": alice.id, "bob": bob.id}
    assert await store.users_named([]) == {}


async def test_tokens_expire_and_are_revoked(store: ChatStore) -> None:
    alice = await user(store, "alice")
    await store.create_token("a" * 64, alice.id, NOW, NOW + timedelta(hours=1))
    await store.create_token("b" * 64, alice.id, NOW, NOW + timedelta(seconds=1))
    found = await store.user_for_token("a" * 64, NOW)
    assert found is not None and found.username == "alice"
    assert await store.user_for_token("b" * 64, NOW + timedelta(seconds=2)) is None
    assert await store.user_for_token("c" * 64, NOW) is None
    assert await store.delete_expired_tokens(alice.id, NOW + timedelta(seconds=2)) == 1
    await store.delete_token("a" * 64)
    await store.delete_token("a" * 64)  # unknown: not an error
    assert await store.user_for_token("a" * 64, NOW) is None


# rooms


async def test_rooms_list_access_and_counts(store: ChatStore) -> None:
    alice, bob, carol = [await user(store, n) for n in ("alice", "bob", "carol")]
    lobby = await room(store, "lobby", alice)
    secret = await room(store, "secret", alice, private=True)
    assert (lobby.owner, lobby.owner_id, lobby.last_seq, lobby.topic, lobby.kind) == (
        "alice",
        alice.id,
        0,
        "about lobby",
        "room",
    )
    assert secret.private and lobby.title == ""
    with pytest.raises(Conflict) as taken:
        await room(store, "lobby", bob)
    assert taken.value.reason == "room_taken"

    assert await store.get_room("lobby") == lobby
    assert await store.get_room("nope") is None
    access = await store.room_access("lobby", alice.id)
    assert access is not None and access.member and not access.banned
    assert (access.role, access.read_seq, access.notify) == ("owner", 0, "all")
    access = await store.room_access("lobby", bob.id)
    assert access is not None and not access.member and access.role is None
    assert await store.room_access("nope", bob.id) is None

    joined = await store.add_member(lobby.id, bob.id, bob.id, NOW)
    assert frame(joined) == {
        "type": "member_joined",
        "room": "lobby",
        "seq": 1,
        "user": "bob",
        "actor": "bob",
        "role": "member",
    }
    assert joined is not None and (joined.subject, joined.removes) == ("bob", None)
    assert await store.add_member(lobby.id, bob.id, bob.id, NOW) is None
    assert await store.members(lobby.id) == [
        MemberRecord("alice", "owner"),
        MemberRecord("bob", "member"),
    ]
    assert await store.member_count(lobby.id) == 2

    listed = {s.room.name: s for s in await store.list_rooms(carol.id)}
    assert set(listed) == {"lobby"}  # public only: carol is in no private room
    assert listed["lobby"].members == 2 and not listed["lobby"].member
    assert listed["lobby"].role is None and listed["lobby"].unread == 0
    listed = {s.room.name: s for s in await store.list_rooms(alice.id)}
    assert list(listed) == ["lobby", "secret"]
    assert listed["secret"].member and listed["secret"].members == 1
    assert listed["lobby"].role == "owner" and listed["lobby"].room.last_seq == 1


async def test_topic_and_title_are_events_and_repeats_are_not(store: ChatStore) -> None:
    alice = await user(store, "alice")
    lobby = await room(store, "lobby", alice)
    topic = await store.set_topic(lobby.id, "new topic", alice.id, NOW)
    assert frame(topic) == {
        "type": "topic_changed",
        "room": "lobby",
        "seq": 1,
        "topic": "new topic",
        "actor": "alice",
    }
    assert await store.set_topic(lobby.id, "new topic", alice.id, NOW) is None
    title = await store.set_title(lobby.id, "The Lobby", alice.id, NOW)
    assert frame(title)["title"] == "The Lobby" and frame(title)["seq"] == 2
    assert await store.set_title(lobby.id, "The Lobby", alice.id, NOW) is None
    stored = await store.get_room("lobby")
    assert stored is not None
    assert (stored.topic, stored.title, stored.last_seq) == ("new topic", "The Lobby", 2)


async def test_deleting_a_room_takes_its_log_and_messages(store: ChatStore) -> None:
    alice = await user(store, "alice")
    lobby = await room(store, "lobby", alice)
    message, _ = await store.append_message(_new(lobby, alice, "hi", "c-1"))
    await store.add_reaction(lobby.id, message.id, alice.id, "👍", NOW)
    assert await store.delete_room(lobby.id) is True
    assert await store.delete_room(lobby.id) is False
    assert await store.get_room("lobby") is None
    assert await store.events_after(lobby.id, 0, 10) == []
    assert await store.get_message(lobby.id, message.id) is None
    again = await room(store, "lobby", alice)  # the name is free again
    resent, event = await store.append_message(_new(again, alice, "hi", "c-1"))
    assert event is not None and resent.seq == 1


# direct messages


async def test_the_same_people_open_the_same_dm(store: ChatStore) -> None:
    alice, bob, carol = [await user(store, n) for n in ("alice", "bob", "carol")]
    dm, events = await store.open_dm([bob.id], alice.id, NOW)
    assert (dm.kind, dm.private, dm.owner, dm.name) == ("dm", True, "alice", dm_name([1, 2]))
    assert [frame(e) for e in events] == [
        {
            "type": "member_joined",
            "room": dm.name,
            "seq": 1,
            "user": "alice",
            "actor": "alice",
            "role": "owner",
        },
        {
            "type": "member_joined",
            "room": dm.name,
            "seq": 2,
            "user": "bob",
            "actor": "alice",
            "role": "member",
        },
    ]
    assert dm.last_seq == 2
    same, none = await store.open_dm([alice.id, bob.id, alice.id], bob.id, NOW)
    assert (same.id, none) == (dm.id, [])
    group, events = await store.open_dm([carol.id, bob.id], alice.id, NOW)
    assert group.id != dm.id and len(events) == 3
    assert await store.members(group.id) == [
        MemberRecord("alice", "owner"),
        MemberRecord("bob", "member"),
        MemberRecord("carol", "member"),
    ]
    # Never listed to outsiders, and not as a public room.
    dave = await user(store, "dave")
    assert [s.room.name for s in await store.list_rooms(dave.id)] == []
    listed = {s.room.name: s for s in await store.list_rooms(carol.id)}
    assert set(listed) == {group.name} and listed[group.name].room.kind == "dm"
    access = await store.room_access(dm.name, carol.id)
    assert access is not None and not access.member
    # The listing names each DM's participants (rooms have none) and counts its members.
    await room(store, "lobby", alice)
    listed = {s.room.name: s for s in await store.list_rooms(alice.id)}
    assert {name: (s.participants, s.members) for name, s in listed.items()} == {
        dm.name: (("alice", "bob"), 2),
        group.name: (("alice", "bob", "carol"), 3),
        "lobby": (None, 1),
    }


async def test_dm_sizes_and_unknown_people_are_refused(store: ChatStore) -> None:
    people = [await user(store, f"user{i}") for i in range(MAX_DM_USERS + 1)]
    with pytest.raises(InvalidInput) as alone:
        await store.open_dm([people[0].id], people[0].id, NOW)
    assert alone.value.reason == "dm_size"
    with pytest.raises(InvalidInput):
        await store.open_dm([p.id for p in people], people[0].id, NOW)
    full, events = await store.open_dm([p.id for p in people[1:MAX_DM_USERS]], people[0].id, NOW)
    assert len(events) == MAX_DM_USERS and await store.member_count(full.id) == MAX_DM_USERS
    with pytest.raises(NotFound) as unknown:
        await store.open_dm([10**6], people[0].id, NOW)
    assert unknown.value.reason == "user_not_found"


async def test_a_dm_opened_by_racing_callers_is_one_room(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    results = await asyncio.gather(
        *(store.open_dm([alice.id, bob.id], creator.id, NOW) for creator in (alice, bob) * 4)
    )
    assert len({dm.id for dm, _ in results}) == 1
    assert sum(len(events) for _, events in results) == 2
    dm = results[0][0]
    assert [e.seq for e in await whole_log(store, dm.id)] == [1, 2]


# membership, roles, bans


async def test_leaving_kicks_bans_and_unbans_are_events(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    await store.add_member(lobby.id, bob.id, bob.id, NOW)
    left = await store.remove_member(lobby.id, bob.id, bob.id, "left", NOW)
    assert frame(left) == {
        "type": "member_left",
        "room": "lobby",
        "seq": 2,
        "user": "bob",
        "actor": "bob",
        "reason": "left",
    }
    assert left is not None and left.removes == "bob"
    assert await store.remove_member(lobby.id, bob.id, alice.id, "kicked", NOW) is None
    invited = await store.add_member(lobby.id, bob.id, alice.id, NOW)
    assert frame(invited)["actor"] == "alice"
    kicked = await store.remove_member(lobby.id, bob.id, alice.id, "kicked", NOW)
    assert frame(kicked)["reason"] == "kicked"
    await store.add_member(lobby.id, bob.id, bob.id, NOW)

    banned = await store.ban(lobby.id, bob.id, alice.id, NOW)
    assert frame(banned) == {
        "type": "member_banned",
        "room": "lobby",
        "seq": 6,
        "user": "bob",
        "actor": "alice",
    }
    assert banned is not None and banned.removes == "bob"
    assert await store.ban(lobby.id, bob.id, alice.id, NOW) is None  # already banned
    access = await store.room_access("lobby", bob.id)
    assert access is not None and access.banned and not access.member
    assert await store.members(lobby.id) == [MemberRecord("alice", "owner")]
    assert await store.banned_names(lobby.id) == ["bob"]

    unbanned = await store.unban(lobby.id, bob.id, alice.id, NOW)
    assert frame(unbanned)["type"] == "member_unbanned" and frame(unbanned)["seq"] == 7
    assert await store.unban(lobby.id, bob.id, alice.id, NOW) is None
    assert await store.banned_names(lobby.id) == []
    access = await store.room_access("lobby", bob.id)
    assert access is not None and not access.banned and not access.member  # not re-added
    carol = await user(store, "carol")
    outsider = await store.ban(lobby.id, carol.id, alice.id, NOW)  # a non-member can be banned
    assert frame(outsider)["seq"] == 8
    assert [e.seq for e in await whole_log(store, lobby.id)] == list(range(1, 9))


async def test_roles_and_ownership_transfer(store: ChatStore) -> None:
    alice, bob, carol = [await user(store, n) for n in ("alice", "bob", "carol")]
    lobby = await room(store, "lobby", alice)
    for member in (bob, carol):
        await store.add_member(lobby.id, member.id, member.id, NOW)
    promoted = await store.set_role(lobby.id, bob.id, "moderator", alice.id, NOW)
    assert [frame(e) for e in promoted] == [
        {
            "type": "role_changed",
            "room": "lobby",
            "seq": 3,
            "user": "bob",
            "role": "moderator",
            "actor": "alice",
        }
    ]
    assert await store.set_role(lobby.id, bob.id, "moderator", alice.id, NOW) == []
    with pytest.raises(NotFound) as outsider:
        await store.set_role(lobby.id, 10**6, "moderator", alice.id, NOW)
    assert outsider.value.reason == "not_a_member"

    handed = await store.set_role(lobby.id, carol.id, "owner", alice.id, NOW)
    assert [(e.seq, e.subject, frame(e)["role"]) for e in handed] == [
        (4, "carol", "owner"),
        (5, "alice", "moderator"),
    ]
    stored = await store.get_room("lobby")
    assert stored is not None and (stored.owner, stored.owner_id) == ("carol", carol.id)
    assert await store.members(lobby.id) == [
        MemberRecord("alice", "moderator"),
        MemberRecord("bob", "moderator"),
        MemberRecord("carol", "owner"),
    ]
    access = await store.room_access("lobby", alice.id)
    assert access is not None and access.role == "moderator"
    # The old owner may now leave.
    assert await store.remove_member(lobby.id, alice.id, alice.id, "left", NOW) is not None


async def test_notify_levels_are_private_settings(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    assert await store.set_notify(lobby.id, alice.id, "mute") is True
    assert await store.set_notify(lobby.id, bob.id, "mute") is False  # not a member
    access = await store.room_access("lobby", alice.id)
    assert access is not None and access.notify == "mute"
    listed = await store.list_rooms(alice.id)
    assert listed[0].notify == "mute"
    stored = await store.get_room("lobby")
    assert stored is not None and stored.last_seq == 0  # no event


# messages


async def test_seqs_are_consecutive_and_records_round_trip(store: ChatStore) -> None:
    alice = await user(store, "alice")
    lobby = await room(store, "lobby", alice)
    other = await room(store, "other", alice)
    text = "héllo 👋 " + "x" * 3990
    sent = []
    for i in range(5):
        message, event = await store.append_message(_new(lobby, alice, f"{i} {text}"[:4000]))
        assert event is not None and event.seq == message.seq and event.type == "message"
        sent.append(message)
    assert [m.seq for m in sent] == [1, 2, 3, 4, 5]
    first, _ = await store.append_message(_new(other, alice, "elsewhere"))
    assert first.seq == 1  # per room

    stored = await store.get_message(lobby.id, sent[0].id)
    assert stored == sent[0]
    assert stored is not None and stored.created_at == NOW and stored.room == "lobby"
    assert await store.get_message(other.id, sent[0].id) is None  # wrong room
    lobby_now = await store.get_room("lobby")
    assert lobby_now is not None and lobby_now.last_seq == 5


async def test_a_repeated_client_id_returns_the_first_and_leaves_no_gap(store: ChatStore) -> None:
    alice, bob = await user(store, "alice"), await user(store, "bob")
    lobby = await room(store, "lobby", alice)
    await store.add_member(lobby.id, bob.id, bob.id, NOW)  # seq 1
    first, event = await store.append_message(_new(lobby, alice, "one", "c-1"))
    assert event is not None and first.client_id == "c-1"
    again, event = await store.append_message(_new(lobby, alice, "one, retried", "c-1"))
    assert event is None and again == first
    theirs, event = await store.append_message(_new(lobby, bob, "bob's", "c-1"))
    assert event is not None and theirs.seq == 3  # client ids are per author
    nxt, _ = await store.append_message(_new(lobby, alice, "two"))
    assert nxt.seq == 4


async def test_a_send_to_a_room_that_is_gone_is_not_found_and_stores_nothing(
    store: ChatStore,
) -> None:
    alice = await user(store, "alice")
    lobby = await room(store, "lobby", alice)
    await store.append_message(_new(lobby, alice, "kept"))
    assert await store.delete_room(lobby.id)
    with pytest.raises(NotFound) as caught:
        await store.append_message(_new(lobby, alice, "too late", "c-late"))
    assert caught.value.reason == "room_not_found"
    assert await store.get_room("lobby") is None


async def test_history_pages_in_both_directions(store: ChatStore) -> None:
    alice = await user(store, "alice")
    lobby = await room(store, "lobby", alice)
    for i in range(1, 11):
        await store.append_message(_new(lobby, alice, f"m{i}"))
        if i % 3 == 0:  # events that are not messages interleave
            await store.set_topic(lobby.id, f"topic {i}", alice.id, NOW)
    seqs = [m.seq for m in await store.messages_after(lobby.id, 0, 100)]
    assert seqs == [1, 2, 3, 5, 6, 7, 9, 10, 11, 13]
    newest = await store.messages_before(lobby.id, None, 3)
    assert [m.text for m in newest] == ["m8", "m9", "m10"]
    older = await store.messages_before(lobby.id, newest[0].seq, 3)
    assert [m.text for m in older] == ["m5", "m6", "m7"]
    assert [m.text for m in await store.messages_before(lobby.id, 2, 5)] == ["m1"]
    assert [m.text for m in await store.messages_after(lobby.id, 0, 4)] == ["m1", "m2", "m3", "m4"]
    assert [m.text for m in await store.messages_after(lobby.id, 11, 4)] == ["m10"]
    assert await store.messages_after(lobby.id, 13, 4) == []


async def test_edit_delete_and_previews(store: ChatStore) -> None:
    alice = await user(store, "alice")
    lobby = await room(store, "lobby", alice)
    upload = {"id": "ab" * 32, "width": 10, "height": 20, "thumbnail_url": "t", "full_url": "f"}
    message, _ = await store.append_message(
        new_message(lobby, alice, "see https://x.org", at=NOW, attachments=(upload,))
    )
    assert message.attachments == (upload,)
    later = NOW + timedelta(minutes=1)
    edited, event = await store.edit_message(lobby.id, message.id, "edited", alice.id, later)
    assert (edited.text, edited.edited_at, edited.seq) == ("edited", later, message.seq)
    assert frame(event) == {
        "type": "message_edited",
        "room": "lobby",
        "seq": 2,
        "target": message.id,
        "text": "edited",
        "edited_at": "2024-06-01T12:01:00.123456Z",
        "actor": "alice",
    }
    same, none = await store.edit_message(lobby.id, message.id, "edited", alice.id, later)
    assert none is None and same == edited

    preview = {"url": "https://x.org", "title": "X", "description": None, "image": None}
    with_preview = await store.set_previews(lobby.id, message.id, [preview])
    assert with_preview is not None
    record, event = with_preview
    assert record.previews == (preview,) and frame(event)["previews"] == [preview]
    unchanged = await store.set_previews(lobby.id, message.id, [preview])
    assert unchanged is not None and unchanged[1] is None

    deleted, event = await store.delete_message(lobby.id, message.id, alice.id, later)
    assert deleted.deleted and deleted.text == "" and deleted.seq == message.seq
    assert deleted.attachments == () and deleted.previews == ()
    assert frame(event) == {
        "type": "message_deleted",
        "room": "lobby",
        "seq": 4,
        "target": message.id,
        "actor": "alice",
    }
    again, none = await store.delete_message(lobby.id, message.id, alice.id, later)
    assert none is None and again.deleted
    assert await store.set_previews(lobby.id, message.id, [preview]) is None
    with pytest.raises(NotFound) as gone:
        await store.edit_message(lobby.id, message.id, "too late", alice.id, later)
    assert gone.value.reason == "message_not_found"
    with pytest.raises(NotFound):
        await store.delete_message(lobby.id, 10**9, alice.id, later)
    with pytest.raises(NotFound):
        await store.edit_message(lobby.id + 1, message.id, "wrong room", alice.id, later)
    assert await store.get_message(lobby.id, message.id) == deleted
    lobby_now = await store.get_room("lobby")
    assert lobby_now is not None and lobby_now.last_seq == 4  # the repeats took no seq


async def test_changes_naming_an_unknown_account_fail_and_take_no_seq(store: ChatStore) -> None:
    alice = await user(store, "alice")
    lobby = await room(store, "lobby", alice)
    message, _ = await store.append_message(_new(lobby, alice, "hi"))
    nobody = 10**6
    for change in (
        store.add_member(lobby.id, nobody, alice.id, NOW),
        store.ban(lobby.id, nobody, alice.id, NOW),
    ):
        with pytest.raises(Conflict) as refused:
            await change
        assert refused.value.reason == "constraint"
    with pytest.raises(Forbidden) as forbidden:  # no account is no member either
        await store.add_reaction(lobby.id, message.id, nobody, "👍", NOW)
    assert forbidden.value.reason == "not_a_member"
    assert (await store.get_message(lobby.id, message.id)) == message  # no empty reaction
    assert [e.seq for e in await whole_log(store, lobby.id)] == [1]
