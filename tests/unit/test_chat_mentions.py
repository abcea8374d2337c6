"""The mention parser: `@username` and `@room`, as the browser's mentions.js parses them."""

from __future__ import annotations

import pytest

from confab.chat.mentions import parse_mentions

CASES = [
    ("hi @bob", ("bob",), False),
    ("@Bob and @ALICE", ("alice", "bob"), False),
    ("hi @bob.", ("bob",), False),  # a trailing dot is punctuation
    ("@bob.smith, hello", ("bob.smith",), False),
    ("mail a@bob.org", (), False),  # inside a word: an address, not a mention
    ("@ab is too short", (), False),
    ("@" + "x" * 33, (), False),  # too long: not a name cut at 32
    ("@" + "x" * 32, ("x" * 32,), False),
    ("@room look", (), True),
    ("(@room) and @bob @bob", ("bob",), True),
    ("@@bob", (), False),
    ("x.@bob _@carol -@dave", (), False),  # after any name character: not a mention
    ("line\n@bob", ("bob",), False),
    ("no mentions", (), False),
    ("@under_score-dash", ("under_score-dash",), False),
]


@pytest.mark.parametrize(("text", "users", "room"), CASES)
def test_parse_mentions(text: str, users: tuple[str, ...], room: bool) -> None:
    found = parse_mentions(text)
    assert (found.users, found.room) == (users, room)
