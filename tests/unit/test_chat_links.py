"""Which URLs of a message's text get link previews (confab.chat.links)."""

from __future__ import annotations

import pytest

from confab.chat.links import MAX_LINKS, MAX_URL_LENGTH, extract_urls


def test_finds_http_and_https_urls_in_order() -> None:
    text = "see https://a.example/x and http://b.example:8080/y?q=1&r=2 too"
    assert extract_urls(text) == ("https://a.example/x", "http://b.example:8080/y?q=1&r=2")


def test_no_urls() -> None:
    assert extract_urls("") == ()
    assert extract_urls("nothing to see, just a.example and www.b.example") == ()


@pytest.mark.parametrize(
    "text",
    [
        "ftp://a.example/file",
        "javascript:alert(1)",
        "mailto:x@a.example",
        "file:///etc/passwd",
        "data:text/html,<b>x</b>",
        "xhttp://a.example/",  # glued to a word: not a link
        "https://",
        "http:///path-without-host",
        "https://user:secret@a.example/",  # credentials: never fetched
        "http://a.example:99999/",  # port out of range
        "http://a.example:x/",
        "http://[::1/",  # broken IPv6 literal
    ],
)
def test_ignores_other_schemes_and_broken_urls(text: str) -> None:
    assert extract_urls(text) == ()


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("look: https://a.example/x.", "https://a.example/x"),
        ("really? https://a.example/x?!", "https://a.example/x"),
        ("(see https://a.example/x)", "https://a.example/x"),
        ("[https://a.example/x]", "https://a.example/x"),
        ("https://en.wikipedia.org/wiki/Tea_(meal)", "https://en.wikipedia.org/wiki/Tea_(meal)"),
        ("(https://en.wikipedia.org/wiki/Tea_(meal))", "https://en.wikipedia.org/wiki/Tea_(meal)"),
        ("<https://a.example/x>", "https://a.example/x"),
        ('"https://a.example/x"', "https://a.example/x"),
        ("'https://a.example/x'", "https://a.example/x"),
        ("a,https://a.example/x,b", "https://a.example/x,b"),
        ("https://a.example/x\nnext line", "https://a.example/x"),
        ("*https://a.example/x*", "https://a.example/x"),
        ("HTTPS://A.EXAMPLE/Path", "HTTPS://A.EXAMPLE/Path"),
        ("https://ünï.example/päth", "https://ünï.example/päth"),
        ("https://a.example/x#section", "https://a.example/x#section"),
    ],
)
def test_sentence_punctuation_is_not_part_of_the_url(text: str, url: str) -> None:
    assert extract_urls(text) == (url,)


def test_duplicates_are_dropped_keeping_the_first_spelling() -> None:
    text = (
        "https://a.example/x https://a.example/x https://A.EXAMPLE/x "
        "https://a.example/x#part https://a.example/X"
    )
    # Scheme and host are case-insensitive and a fragment names the same page; the path
    # is case-sensitive.
    assert extract_urls(text) == ("https://a.example/x", "https://a.example/X")


def test_at_most_max_links() -> None:
    text = " ".join(f"https://a.example/{i}" for i in range(10))
    found = extract_urls(text)
    assert len(found) == MAX_LINKS == 3
    assert found == ("https://a.example/0", "https://a.example/1", "https://a.example/2")
    assert extract_urls(text, limit=5)[-1] == "https://a.example/4"


def test_overlong_urls_are_skipped() -> None:
    long = "https://a.example/" + "x" * MAX_URL_LENGTH
    assert extract_urls(f"{long} https://b.example/") == ("https://b.example/",)


def test_a_huge_text_is_fast() -> None:
    # 4000 characters is the message limit; no pathological backtracking either way.
    assert extract_urls("http://" * 600) == ()
    assert extract_urls("(" * 2000 + "https://a.example/" + ")" * 2000) == ("https://a.example/",)
