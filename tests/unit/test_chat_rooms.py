"""Room services on the in-memory store: rooms, membership, roles, bans, DMs, read markers.

Every change is a room event published after commit with its seq; the user concerned
hears of invitations and removals on their own channel.
"""

from __future__ import annotations

import pytest

from confab.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.unit.chatkit import Chat, chat

__all__ = ["chat"]


def kinds(frames: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(f["type"], f.get("seq"), f.get("user")) for f in frames]


async def test_rooms_create_join_and_list(chat: Chat) -> None:
    rooms, members = chat.services.rooms, chat.services.members
    alice, bob = await chat.user("alice"), await chat.user("bob")
    await chat.listen("lobby")
    view = await rooms.create(alice, "Lobby", "general talk", title="The Lobby")
    assert (view.room.name, view.room.owner, view.member, view.members, view.role) == (
        "lobby",
        "alice",
        True,
        1,
        "owner",
    )
    assert view.room.title == "The Lobby"
    with pytest.raises(Conflict):
        await rooms.create(bob, "lobby")
    with pytest.raises(InvalidInput):
        await rooms.create(bob, "no spaces")
    await rooms.create(alice, "secret", private=True)

    assert [v.room.name for v in await rooms.list_for(bob)] == ["lobby"]
    joined = await members.join(bob, "lobby")
    assert joined.member and joined.members == 2 and joined.role == "member"
    await members.join(bob, "lobby")  # joining again is fine and publishes nothing
    assert kinds(chat.published.of("lobby"))[-1] == ("member_joined", 2, "bob")
    assert len(chat.published.of("lobby")) == 2  # title_changed, member_joined
    listed = await members.members(bob, "lobby")
    assert [(m.username, m.role) for m in listed] == [("alice", "owner"), ("bob", "member")]
    with pytest.raises(NotFound) as missing:
        await members.join(bob, "nope")
    assert missing.value.reason == "room_not_found"


async def test_private_rooms_are_invisible_to_outsiders_and_invitations_arrive_live(
    chat: Chat,
) -> None:
    rooms, members, messages = chat.services.rooms, chat.services.members, chat.services.messages
    alice, bob, carol = await chat.user("alice"), await chat.user("bob"), await chat.user("carol")
    await rooms.create(alice, "secret", private=True)
    await chat.listen("secret", "user.bob")
    # An outsider cannot tell a private room from a missing one, whatever they try.
    for attempt in (
        members.join(bob, "secret"),
        rooms.get(bob, "secret"),
        members.members(bob, "secret"),
        messages.history(bob, "secret"),
        messages.send(bob, "secret", "hello?"),
        rooms.mark_read(bob, "secret", 1),
    ):
        with pytest.raises(NotFound) as hidden:
            await attempt
        assert hidden.value.reason == "room_not_found"
    assert [v.room.name for v in await rooms.list_for(bob)] == []
    await members.invite(alice, "secret", "bob")  # bob is a member now, carol is not
    with pytest.raises(Forbidden) as plain:
        await members.invite(bob, "secret", "carol")
    assert plain.value.reason == "not_moderator"
    with pytest.raises(NotFound):
        await members.invite(alice, "secret", "nobody")
    assert (await rooms.get(bob, "secret")).members == 2
    assert kinds(chat.published.of("secret")) == [("member_joined", 1, "bob")]
    added = chat.published.to("bob")
    assert [f["type"] for f in added] == ["room_added"]
    assert added[0]["room"]["name"] == "secret" and added[0]["room"]["role"] == "member"
    with pytest.raises(NotFound):
        await rooms.get(carol, "secret")


async def test_leave_kick_ban_unban_by_role(chat: Chat) -> None:
    rooms, members = chat.services.rooms, chat.services.members
    alice, bob, carol, dave = [await chat.user(n) for n in ("alice", "bob", "carol", "dave")]
    await rooms.create(alice, "lobby")
    for user in (bob, carol, dave):
        await members.join(user, "lobby")
    await members.set_role(alice, "lobby", "bob", "moderator")
    await chat.listen("lobby", "user.carol", "user.dave")

    with pytest.raises(Forbidden) as stays:
        await members.remove(alice, "lobby", "alice")
    assert stays.value.reason == "owner_stays"
    with pytest.raises(Forbidden) as plain:
        await members.remove(carol, "lobby", "dave")
    assert plain.value.reason == "not_moderator"
    with pytest.raises(Forbidden):
        await members.remove(bob, "lobby", "alice")  # a moderator never kicks the owner
    await members.remove(bob, "lobby", "carol")  # a moderator kicks a member
    await members.join(carol, "lobby")  # a kick is not a ban
    await members.ban(bob, "lobby", "carol")
    with pytest.raises(Forbidden) as banned:
        await members.join(carol, "lobby")
    assert banned.value.reason == "banned"
    with pytest.raises(Conflict):
        await members.invite(alice, "lobby", "carol")
    assert await members.bans(bob, "lobby") == ["carol"]
    with pytest.raises(Forbidden):
        await members.bans(dave, "lobby")
    await members.unban(bob, "lobby", "carol")
    with pytest.raises(NotFound):
        await members.unban(bob, "lobby", "carol")
    await members.remove(dave, "lobby", "dave")  # leaving
    with pytest.raises(Forbidden) as gone:
        await members.remove(dave, "lobby", "dave")
    assert gone.value.reason == "not_a_member"
    assert [m.username for m in await members.members(alice, "lobby")] == ["alice", "bob"]
    assert kinds(chat.published.of("lobby")) == [
        ("member_left", 5, "carol"),
        ("member_joined", 6, "carol"),
        ("member_banned", 7, "carol"),
        ("member_unbanned", 8, "carol"),
        ("member_left", 9, "dave"),
    ]
    assert [f["reason"] for f in chat.published.of("lobby") if f["type"] == "member_left"] == [
        "kicked",
        "left",
    ]
    assert [(f["type"], f["reason"]) for f in chat.published.to("carol")] == [
        ("room_removed", "kicked"),
        ("room_removed", "banned"),
    ]
    assert chat.published.to("dave") == []  # leaving oneself is no news to oneself


async def test_moderators_set_topic_and_title_and_the_owner_hands_over_then_leaves(
    chat: Chat,
) -> None:
    rooms, members = chat.services.rooms, chat.services.members
    alice, bob, carol = await chat.user("alice"), await chat.user("bob"), await chat.user("carol")
    await rooms.create(alice, "lobby")
    await members.join(bob, "lobby")
    await members.join(carol, "lobby")
    await chat.listen("lobby")
    with pytest.raises(Forbidden):
        await rooms.update(carol, "lobby", topic="mine now")
    await members.set_role(alice, "lobby", "bob", "moderator")
    view = await rooms.update(bob, "lobby", topic="news", title="News room")
    assert (view.room.topic, view.room.title) == ("news", "News room")
    with pytest.raises(Forbidden) as not_owner:
        await members.set_role(bob, "lobby", "carol", "moderator")
    assert not_owner.value.reason == "not_owner"
    with pytest.raises(InvalidInput):
        await members.set_role(alice, "lobby", "carol", "king")
    await members.set_role(alice, "lobby", "carol", "owner")
    assert (await rooms.get(alice, "lobby")).role == "moderator"
    assert (await rooms.get(carol, "lobby")).role == "owner"
    await members.remove(alice, "lobby", "alice")  # no longer the owner: may leave
    types = [f["type"] for f in chat.published.of("lobby")]
    assert types == [
        "role_changed",
        "topic_changed",
        "title_changed",
        "role_changed",
        "role_changed",
        "member_left",
    ]
    with pytest.raises(Forbidden):
        await rooms.delete(bob, "lobby")
    await chat.listen("user.bob")
    await rooms.delete(carol, "lobby")
    assert chat.published.of("lobby")[-1] == {"type": "room_deleted", "room": "lobby"}
    assert chat.published.to("bob") == [
        {"type": "room_removed", "room": "lobby", "reason": "deleted"}
    ]
    with pytest.raises(NotFound):
        await rooms.get(carol, "lobby")


async def test_dms_same_people_same_conversation_never_listed_for_others(chat: Chat) -> None:
    rooms, dms, messages = chat.services.rooms, chat.services.dms, chat.services.messages
    alice, bob, carol = await chat.user("alice"), await chat.user("bob"), await chat.user("carol")
    await chat.listen("user.bob")
    view, created = await dms.open(alice, ["Bob"])
    assert created and view.room.kind == "dm" and view.room.private
    assert view.participants == ("alice", "bob") and view.members == 2
    again, created_again = await dms.open(bob, ["alice", "bob"])
    assert not created_again and again.room.name == view.room.name
    assert [f["type"] for f in chat.published.to("bob")] == ["room_added"]
    await messages.send(alice, view.room.name, "psst")
    assert [v.room.name for v in await rooms.list_for(carol)] == []
    with pytest.raises(NotFound):
        await messages.history(carol, view.room.name)
    with pytest.raises(Forbidden) as fixed:
        await chat.services.members.invite(alice, view.room.name, "carol")
    assert fixed.value.reason == "dm_fixed"
    group, _ = await dms.open(alice, ["bob", "carol"])
    assert group.room.name != view.room.name and group.members == 3
    with pytest.raises(NotFound) as nobody:
        await dms.open(alice, ["ghost"])
    assert nobody.value.reason == "user_not_found"
    many = [f"user{i}" for i in range(9)]
    with pytest.raises(InvalidInput) as large:
        await dms.open(alice, many)
    assert large.value.reason == "dm_too_large"
    with pytest.raises(InvalidInput):
        await dms.open(alice, ["alice"])


async def test_read_markers_unread_counts_and_notify(chat: Chat) -> None:
    rooms, members, messages = chat.services.rooms, chat.services.members, chat.services.messages
    alice, bob = await chat.user("alice"), await chat.user("bob")
    await rooms.create(alice, "lobby")
    await members.join(bob, "lobby")
    for i in range(3):
        await messages.send(alice, "lobby", f"m{i} @bob" if i == 2 else f"m{i}")
    listed = {v.room.name: v for v in await rooms.list_for(bob)}
    assert (listed["lobby"].unread, listed["lobby"].mentions) == (3, 1)
    await chat.listen("lobby")
    marker, event = await rooms.mark_read(bob, "lobby", 3)
    assert marker == 3 and event is not None
    assert chat.published.of("lobby") == [
        {"type": "read", "room": "lobby", "seq": 5, "user": "bob", "read_seq": 3}
    ]
    again, none = await rooms.mark_read(bob, "lobby", 2)  # never backwards
    assert (again, none) == (3, None)
    listed = {v.room.name: v for v in await rooms.list_for(bob)}
    assert (listed["lobby"].unread, listed["lobby"].mentions, listed["lobby"].read_seq) == (
        1,
        1,
        3,
    )
    view = await rooms.set_notify(bob, "lobby", "mentions")
    assert view.notify == "mentions"
    with pytest.raises(InvalidInput):
        await rooms.set_notify(bob, "lobby", "loud")
