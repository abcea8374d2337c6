"""Chat domain rules: validation and permissions, as pure functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from confab.chat import domain
from confab.core.chatstore import MessageRecord, RoomRecord, RoomSummary
from confab.core.errors import InvalidInput

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _room(owner: str = "olive", private: bool = False) -> RoomRecord:
    return RoomRecord(1, "lobby", "", private, 1, owner, 0)


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


# (actor, actor role, target, target role) -> may remove (leave or kick), may ban
ROLE_CASES = [
    ("alice", "member", "alice", "member", True, False),  # leave; never ban oneself
    ("olive", "owner", "olive", "owner", False, False),  # the owner hands over first
    ("olive", "owner", "alice", "member", True, True),
    ("olive", "owner", "mod", "moderator", True, True),
    ("mod", "moderator", "alice", "member", True, True),
    ("mod", "moderator", "other", "moderator", False, False),
    ("mod", "moderator", "olive", "owner", False, False),
    ("mod", "moderator", "stranger", None, True, True),  # banning a non-member
    ("alice", "member", "bob", "member", False, False),
    ("alice", None, "bob", "member", False, False),
]


@pytest.mark.parametrize(
    ("actor", "actor_role", "target", "target_role", "remove", "ban"), ROLE_CASES
)
def test_role_permissions(
    actor: str,
    actor_role: domain.Role | None,
    target: str,
    target_role: domain.Role | None,
    remove: bool,
    ban: bool,
) -> None:
    assert domain.can_remove(actor, actor_role, target, target_role) is remove
    assert domain.can_ban(actor, actor_role, target, target_role) is ban


def test_moderators_and_edit_and_delete_permissions() -> None:
    assert domain.is_moderator("owner") and domain.is_moderator("moderator")
    assert not domain.is_moderator("member") and not domain.is_moderator(None)
    assert domain.can_edit("alice", _message("alice"))
    assert not domain.can_edit("olive", _message("alice"))  # owners do not rewrite others
    assert not domain.can_edit("alice", _message("alice", deleted=True))
    assert domain.can_delete("alice", _message("alice"), "member")
    assert domain.can_delete("mod", _message("alice"), "moderator")
    assert domain.can_delete("olive", _message("alice"), "owner")
    assert not domain.can_delete("bob", _message("alice"), "member")


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: domain.check_emoji(""), "invalid_emoji"),
        (lambda: domain.check_emoji("a b"), "invalid_emoji"),
        (lambda: domain.check_emoji("x" * 33), "invalid_emoji"),
        (lambda: domain.check_emoji("\x07"), "invalid_emoji"),
        (lambda: domain.check_title("t" * 65), "title_too_long"),
        (lambda: domain.check_seq(-1), "invalid_seq"),
        (lambda: domain.check_notify("loud"), "invalid_notify"),
        (lambda: domain.check_role("king"), "invalid_role"),
    ],
)
def test_new_validation(call: object, reason: str) -> None:
    assert _reason(call) == reason


def test_valid_values_pass() -> None:
    assert domain.check_emoji("👍🏽") == "👍🏽" and domain.check_emoji(":party:") == ":party:"
    assert domain.check_notify("mute") == "mute" and domain.check_role("owner") == "owner"


def test_room_json_shape() -> None:
    view = RoomSummary(_room(), member=True, members=4, role="owner", read_seq=2, unread=1)
    assert domain.room_json(view) == {
        "name": "lobby",
        "title": "",
        "topic": "",
        "private": False,
        "kind": "room",
        "owner": "olive",
        "last_seq": 0,
        "member": True,
        "members": 4,
        "role": "owner",
        "read_seq": 2,
        "unread": 1,
        "mentions": 0,
        "notify": "all",
        "participants": None,
    }
