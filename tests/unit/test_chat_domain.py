"""Chat domain rules: validation and permissions, as pure functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from confab.chat import domain
from confab.core.chatstore import MessageRecord, RoomRecord
from confab.core.errors import InvalidInput

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _room(owner: str = "olive", private: bool = False) -> RoomRecord:
    return RoomRecord(1, "lobby", "", private, 1, owner, 0, NOW)


def _message(author: str = "alice", deleted: bool = False) -> MessageRecord:
    return MessageRecord(
        7, "lobby", 3, author, "" if deleted else "hi", NOW, None, deleted, (), (), None
    )


def _reason(call: object) -> str:
    with pytest.raises(InvalidInput) as error:
        assert callable(call)
        call()
    return error.value.reason


@pytest.mark.parametrize(
    ("raw", "stored"), [("Alice", "alice"), ("bob.s-1_x", "bob.s-1_x"), ("a" * 32, "a" * 32)]
)
def test_usernames_are_lowercased(raw: str, stored: str) -> None:
    assert domain.normalize_username(raw) == stored


@pytest.mark.parametrize("raw", ["ab", "a" * 33, "al ice", "alice!", "ålice", "", "al/ice"])
def test_bad_usernames_are_refused(raw: str) -> None:
    assert _reason(lambda: domain.normalize_username(raw)) == "invalid_username"


@pytest.mark.parametrize("raw", ["a", "Lobby", "dev-ops_2", "r" * 64])
def test_room_names(raw: str) -> None:
    assert domain.normalize_room_name(raw) == raw.lower()


@pytest.mark.parametrize("raw", ["", "r" * 65, "a.b", "a b", "é"])
def test_bad_room_names_are_refused(raw: str) -> None:
    assert _reason(lambda: domain.normalize_room_name(raw)) == "invalid_room_name"


def test_passwords() -> None:
    assert domain.check_password("12345678") == "12345678"
    assert _reason(lambda: domain.check_password("1234567")) == "password_too_short"
    assert _reason(lambda: domain.check_password("x" * 1025)) == "password_too_long"
    assert _reason(lambda: domain.check_password("pass\x00word")) == "invalid_password"


def test_text_is_1_to_4000_characters() -> None:
    assert domain.check_text("x") == "x"
    assert domain.check_text("é" * 4000) == "é" * 4000  # characters, not bytes
    assert domain.check_text("👋" * 4000) == "👋" * 4000
    assert _reason(lambda: domain.check_text("")) == "text_empty"
    assert _reason(lambda: domain.check_text(" \n\t")) == "text_empty"
    # Control characters and every kind of blank show nothing either.
    for invisible in ("\x01\x16", "\x1f", "\x7f\x85\xa0", "\u2028\u3000", "\u200a\x0b"):
        assert _reason(lambda t=invisible: domain.check_text(t)) == "text_empty", repr(invisible)
    for visible in ("a", "\x01a", "\u00e9", "\U0001f600", "\ufeffx"):
        assert domain.check_text(visible) == visible
    # The API document states the same rule as a pattern.
    for text in ("a", "\x1f", " x ", "\u3000", "\x01\x02", "ok\x00"):
        documented = re.fullmatch(domain.TEXT_PATTERN, text) is not None
        try:
            domain.check_text(text)
            accepted = True
        except InvalidInput:
            accepted = False
        assert documented == accepted, repr(text)
    assert _reason(lambda: domain.check_text("x" * 4001)) == "text_too_long"
    assert _reason(lambda: domain.check_text("a\x00b")) == "invalid_text"
    assert _reason(lambda: domain.check_text("lone \ud800 surrogate")) == "invalid_text"


def test_topic_client_id_and_attachments() -> None:
    assert domain.check_topic("") == ""
    assert _reason(lambda: domain.check_topic("t" * 257)) == "topic_too_long"
    assert domain.check_client_id(None) is None
    assert domain.check_client_id("0f8c-4d2e:7") == "0f8c-4d2e:7"
    for bad in ("", "has space", "x" * 65, "naïve"):
        assert _reason(lambda bad=bad: domain.check_client_id(bad)) == "invalid_client_id"
    upload = "0123456789abcdef" * 4
    assert domain.check_attachments([upload, upload]) == (upload,)
    assert _reason(lambda: domain.check_attachments(["ABC"])) == "invalid_attachment"
    assert _reason(lambda: domain.check_attachments([upload.upper()])) == "invalid_attachment"
    many = [f"{i:064x}" for i in range(11)]
    assert _reason(lambda: domain.check_attachments(many)) == "too_many_attachments"


def test_paging() -> None:
    domain.check_page(None, None, 50)
    domain.check_page(10, None, 1)
    domain.check_page(None, 0, 100)
    domain.check_page(5, 1, 10)  # a range: 1 < seq < 5
    assert _reason(lambda: domain.check_page(-1, None, 10)) == "invalid_page"
    assert _reason(lambda: domain.check_page(None, None, 101)) == "invalid_limit"
    assert _reason(lambda: domain.check_page(None, None, 0)) == "invalid_limit"


def test_join_rules() -> None:
    assert domain.join_refusal(_room(), member=False, banned=False) is None
    assert domain.join_refusal(_room(private=True), member=False, banned=False) == "invite_only"
    assert domain.join_refusal(_room(private=True), member=True, banned=False) is None
    assert domain.join_refusal(_room(), member=False, banned=True) == "banned"


def test_owner_manages_members_and_never_leaves() -> None:
    room = _room(owner="olive")
    assert domain.can_manage("olive", room)
    assert not domain.can_manage("alice", room)
    assert domain.can_remove("alice", room, "alice")  # leave
    assert domain.can_remove("olive", room, "alice")  # kick
    assert not domain.can_remove("bob", room, "alice")
    assert not domain.can_remove("olive", room, "olive")
    assert not domain.can_remove("alice", room, "olive")


def test_edit_and_delete_permissions() -> None:
    room = _room(owner="olive")
    assert domain.can_edit("alice", _message("alice"))
    assert not domain.can_edit("olive", _message("alice"))  # owners do not rewrite others
    assert not domain.can_edit("alice", _message("alice", deleted=True))
    assert domain.can_delete("alice", _message("alice"), room)
    assert domain.can_delete("olive", _message("alice"), room)
    assert not domain.can_delete("bob", _message("alice"), room)
    assert domain.can_read(True) and not domain.can_read(False)
    assert domain.can_post(True) and not domain.can_post(False)


def test_message_json_shape() -> None:
    message = MessageRecord(
        7, "lobby", 3, "alice", "hi", NOW, NOW, False, ("a" * 64,), ({"url": "u"},), "c1"
    )
    assert domain.message_json(message) == {
        "id": 7,
        "room": "lobby",
        "seq": 3,
        "author": "alice",
        "text": "hi",
        "created_at": "2024-06-01T12:00:00Z",
        "edited_at": "2024-06-01T12:00:00Z",
        "deleted": False,
        "attachments": ["a" * 64],
        "previews": [{"url": "u"}],
        "client_id": "c1",
    }
    view = domain.RoomView(_room(), member=True, members=4)
    assert domain.room_json(view) == {
        "name": "lobby",
        "topic": "",
        "private": False,
        "owner": "olive",
        "last_seq": 0,
        "member": True,
        "members": 4,
    }
