"""Page metadata for link previews (confab.media.domain.pageparse)."""

from __future__ import annotations

import random
import time

import pytest

from confab.media.domain.pagemeta import MAX_DESCRIPTION, MAX_TITLE, PageMeta
from confab.media.domain.pageparse import page_encoding, parse_page

URL = "https://news.example/a/b/story.html?id=7"


def page(head: str, body: str = "<p>text</p>") -> bytes:
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>".encode()


def test_opengraph_wins_over_twitter_title_and_description() -> None:
    html = page(
        "<title>Plain title</title>"
        '<meta name="description" content="plain description">'
        '<meta name="twitter:title" content="Twitter title">'
        '<meta property="og:title" content="OG title">'
        '<meta property="og:description" content="OG description">'
        '<meta property="og:image" content="https://cdn.example/og.jpg">'
        '<meta name="twitter:image" content="https://cdn.example/tw.jpg">'
    )
    assert parse_page(html, URL) == PageMeta(
        title="OG title", description="OG description", image="https://cdn.example/og.jpg"
    )


def test_twitter_card_then_plain_title_and_description() -> None:
    twitter = page(
        "<title>Plain</title>"
        '<meta name="twitter:title" content="Tw title">'
        '<meta name="twitter:description" content="Tw description">'
        '<meta name="twitter:image:src" content="/tw.png">'
    )
    assert parse_page(twitter, URL) == PageMeta(
        "Tw title", "Tw description", "https://news.example/tw.png"
    )
    plain = page('<title> Just a\n  title </title><meta name="Description" content="About.">')
    assert parse_page(plain, URL) == PageMeta("Just a title", "About.", None)


def test_first_of_repeated_tags_and_case_insensitive_names() -> None:
    html = page(
        '<META PROPERTY="OG:TITLE" CONTENT="first">'
        '<meta property="og:title" content="second">'
        '<meta property="og:image" content="one.jpg">'
        '<meta property="og:image" content="two.jpg">'
        "<title>a</title><title>b</title>"
    )
    meta = parse_page(html, URL)
    assert meta.title == "first"
    assert meta.image == "https://news.example/a/b/one.jpg"


def test_entities_are_decoded_in_attributes_and_text() -> None:
    html = page(
        "<title>Fish &amp; Chips &#8212; &eacute;t&eacute; &#x1F600;</title>"
        '<meta name="description" content="&lt;b&gt;not bold&lt;/b&gt; &quot;q&quot; &nbsp;x">'
        '<meta property="og:image" content="/i.jpg?a=1&amp;b=2">'
    )
    meta = parse_page(html, URL)
    assert meta.title == "Fish & Chips \u2014 \u00e9t\u00e9 \U0001f600"
    assert meta.description == '<b>not bold</b> "q" x'
    assert meta.image == "https://news.example/i.jpg?a=1&b=2"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("https://cdn.example/x.jpg", "https://cdn.example/x.jpg"),
        ("//cdn.example/x.jpg", "https://cdn.example/x.jpg"),
        ("/img/x.jpg", "https://news.example/img/x.jpg"),
        ("x.jpg", "https://news.example/a/b/x.jpg"),
        ("../x.jpg", "https://news.example/a/x.jpg"),
        ("  x.jpg  ", "https://news.example/a/b/x.jpg"),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,iVBORw0KGgo=", None),
        ("ftp://cdn.example/x.jpg", None),
        ("", None),
        ("http://[::1", None),
    ],
)
def test_image_urls_resolve_against_the_final_url(image: str, expected: str | None) -> None:
    html = page(f'<meta property="og:image" content="{image}"><title>t</title>')
    assert parse_page(html, URL).image == expected


def test_base_href_changes_the_base_of_relative_images() -> None:
    html = page('<base href="/static/"><meta property="og:image" content="x.png">')
    assert parse_page(html, URL).image == "https://news.example/static/x.png"
    absolute = page(
        '<base href="https://cdn.example/s/"><meta property="og:image" content="x.png">'
    )
    assert parse_page(absolute, URL).image == "https://cdn.example/s/x.png"


def test_secure_url_link_image_src_and_itemprop_fallbacks() -> None:
    secure = page('<meta property="og:image:secure_url" content="https://c.example/s.jpg">')
    assert parse_page(secure, URL).image == "https://c.example/s.jpg"
    link = page('<link rel="Image_Src preload" href="/l.jpg">')
    assert parse_page(link, URL).image == "https://news.example/l.jpg"
    schema = page(
        '<meta itemprop="name" content="Item"><meta itemprop="description" content="Desc">'
        '<meta itemprop="image" content="/s.jpg">'
    )
    assert parse_page(schema, URL) == PageMeta("Item", "Desc", "https://news.example/s.jpg")


def test_missing_parts_are_none_and_an_empty_page_is_empty() -> None:
    only_title = parse_page(page("<title>T</title>"), URL)
    assert only_title == PageMeta("T", None, None) and not only_title.empty
    assert parse_page(page(""), URL).empty
    assert parse_page(b"", URL).empty
    blank = page('<title>  </title><meta property="og:title" content=" "><meta name="description">')
    assert parse_page(blank, URL).empty


def test_an_svg_title_is_not_the_page_title() -> None:
    html = page('<svg><title>icon</title></svg><meta name="description" content="d">')
    assert parse_page(html, URL) == PageMeta(None, "d", None)


def test_parsing_stops_at_the_body() -> None:
    html = page("<title>Head</title>", body='<meta property="og:title" content="in the body">')
    assert parse_page(html, URL).title == "Head"
    no_head = b"<html><body><title>late</title></body></html>"
    assert parse_page(no_head, URL).empty


def test_long_texts_are_cut_with_an_ellipsis() -> None:
    html = page(f'<title>{"t" * 5000}</title><meta name=description content="{"d " * 5000}">')
    meta = parse_page(html, URL)
    assert meta.title is not None and len(meta.title) == MAX_TITLE and meta.title.endswith("…")
    assert meta.description is not None and len(meta.description) <= MAX_DESCRIPTION


def test_only_the_first_bytes_are_read() -> None:
    filler = "<!-- " + "x" * 100 + " -->"
    html = page(filler * 40 + '<meta property="og:title" content="late">')
    assert parse_page(html, URL).title == "late"
    assert parse_page(html, URL, max_bytes=1024).title is None


# encodings


def test_charset_from_the_content_type_header() -> None:
    html = page("<title>Caf\u00e9 \u20ac</title>").decode().encode("cp1252")
    assert page_encoding(html, "text/html; charset=windows-1252") == "cp1252"
    assert parse_page(html, URL, "text/html; charset=windows-1252").title == "Caf\u00e9 \u20ac"
    # Latin-1 pages are read as windows-1252, like browsers do.
    assert page_encoding(html, 'text/html; charset="ISO-8859-1"') == "cp1252"


def test_charset_from_meta_tags() -> None:
    shift_jis = '<meta charset="shift_jis"><title>\u65e5\u672c</title>'.encode("shift_jis")
    assert parse_page(shift_jis, URL).title == "\u65e5\u672c"
    koi8 = (
        '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'
        "<title>\u041f\u0440\u0438\u0432\u0435\u0442</title>"
    ).encode("koi8_r")
    assert parse_page(koi8, URL).title == "\u041f\u0440\u0438\u0432\u0435\u0442"


def test_header_beats_meta_and_bom_beats_both() -> None:
    html = '<meta charset="koi8-r"><title>\u00e9</title>'.encode("cp1252")
    assert parse_page(html, URL, "text/html; charset=cp1252").title == "\u00e9"
    bom = b"\xef\xbb\xbf" + '<meta charset="koi8-r"><title>\u00e9</title>'.encode()
    assert parse_page(bom, URL, "text/html; charset=cp1252").title == "\u00e9"
    utf16 = "\ufeff<title>\u00e9\u4e2d</title>".encode("utf-16-le")
    assert parse_page(utf16, URL).title == "\u00e9\u4e2d"


def test_unknown_or_unusable_charsets_fall_back_to_a_guess() -> None:
    utf8 = '<meta charset="x-no-such"><title>\u00e9</title>'.encode()
    assert parse_page(utf8, URL, "text/html; charset=bogus").title == "\u00e9"
    # A bytes-to-bytes codec is not a text encoding.
    assert page_encoding(b"<title>x</title>", "text/html; charset=rot13") == "utf-8"
    assert page_encoding(b'<meta charset="base64">', None) == "utf-8"
    # A <meta> claiming UTF-16 was readable as ASCII: it is not UTF-16.
    assert page_encoding(b'<meta charset="utf-16">', None) == "utf-8"


def test_without_any_declaration_utf8_or_windows_1252() -> None:
    assert page_encoding("<title>\u00e9</title>".encode(), None) == "utf-8"
    latin = "<title>caf\u00e9</title>".encode("cp1252")
    assert page_encoding(latin, None) == "cp1252"
    assert parse_page(latin, URL).title == "caf\u00e9"
    # A UTF-8 character cut at the end of the sample is still UTF-8.
    cut = ("<title>" + "\u00e9" * 5000).encode()[:4097]
    assert page_encoding(cut, None) == "utf-8"


# garbage and hostile input


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xff\xfe garbage \x80\x81",
        b"<",
        b"<<<<<<<<",
        b"<title",
        b"<title>unterminated",
        b"<meta property='og:title' content='unterminated",
        b"<!-- never closed",
        b"<![CDATA[ x",
        b"<!DOCTYPE",
        b"<?xml version='1.0'?><title>xml</title>",
        b"</head></head><title>after</title>",
        b"<script><title>in a script</title></script>",
        b"<meta content>",
        b"<meta property=og:title content=unquoted>",
        b"&#xFFFFFFFF; &#0; &bogus;",
        "<title>\ud800</title>".encode("utf-8", "surrogatepass"),
    ],
)
def test_garbage_gives_an_answer_not_an_error(data: bytes) -> None:
    assert isinstance(parse_page(data, URL), PageMeta)


def test_unquoted_and_unterminated_markup_still_yields_what_it_can() -> None:
    assert parse_page(b"<meta property=og:title content=unquoted>", URL).title == "unquoted"
    assert parse_page(b"<title>unterminated", URL).title == "unterminated"


def test_random_bytes_never_raise() -> None:
    rng = random.Random(7)
    alphabet = b"<>/!-=\"' abcmetatitle&#;:x\n\x00\xe9"
    for _ in range(300):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
        assert isinstance(parse_page(data, URL), PageMeta)


@pytest.mark.parametrize(
    "data",
    [
        b"<a" * 150_000,  # fed at once, html.parser takes minutes on this
        b"</" * 150_000,
        b"<?" * 150_000,
        b"<" * 300_000,
        b"<html><head><meta " + b"a=b " * 80_000 + b">",
        b"<head><script>" + b"</" * 130_000,
        b"<html><head>" + b"<div a='1' b=\"2\">x</div>" * 20_000,
    ],
)
def test_hostile_markup_is_bounded_in_time(data: bytes) -> None:
    started = time.perf_counter()
    parse_page(data, URL)
    # The budget is 0.2 s plus at most one slice of work; generous for a loaded machine.
    assert time.perf_counter() - started < 1.5


def test_a_large_script_in_the_head_does_not_hide_the_metadata_after_it() -> None:
    script = "<script>" + "var a = 1 < 2 && b > 3; x = '<div>';" * 3000 + "</script>"
    html = page(script + '<meta property="og:title" content="after the script">')
    assert parse_page(html, URL).title == "after the script"
