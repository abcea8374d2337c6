"""Reads a page's preview metadata (`pagemeta.PageMeta`) from its HTML.

Looks at OpenGraph (`og:*`), Twitter cards (`twitter:*`), `<title>`, `<meta name=description>`
and schema.org `itemprop` metadata with the standard library's `html.parser`. No I/O, and
bounded: only the first `MAX_HEAD_BYTES` of the body are decoded, parsing stops at
`</head>` or `<body>` (where this metadata ends), and it gives up (keeping what it found)
on an unterminated construct longer than `MAX_PENDING_CHARS` or after `budget` seconds:
`html.parser` is pure Python (0.5-2 MB/s on tag-dense markup) and super-linear on some
hostile inputs (`<a<a<a...` fed at once takes minutes). Any input gives an answer, never
an error.
"""

from __future__ import annotations

import codecs
import re
import time
from html.parser import HTMLParser
from typing import Final
from urllib.parse import urljoin, urlsplit

from confab.media.domain.pagemeta import (
    MAX_DESCRIPTION,
    MAX_HEAD_BYTES,
    MAX_IMAGE_URL,
    MAX_TITLE,
    PageMeta,
)

#: Characters the parser may hold waiting for the end of a tag or comment (outside
#: <script>/<style>): real ones are far shorter; hostile ones make each feed rescan them.
MAX_PENDING_CHARS: Final = 32 * 1024
#: Seconds of parsing, at most (checked between slices).
DEFAULT_BUDGET: Final = 0.2

# Fed to the parser in slices so it stops soon after </head>, and so the bounds above are
# checked often.
_SLICE: Final = 2048
# Where the WHATWG encoding sniffing algorithm looks for <meta charset> (we look a bit
# further, for pages with long comments first).
_PRESCAN_BYTES: Final = 4096
_META_CHARSET: Final = re.compile(
    rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE
)
_CONTENT_TYPE_CHARSET: Final = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels browsers read as another encoding (WHATWG Encoding Standard): Latin-1 and ASCII
# pages are really decoded as windows-1252; a <meta> claiming UTF-16 means UTF-8.
_ALIASES: Final = {"iso8859-1": "cp1252", "ascii": "cp1252"}
_WHITESPACE: Final = re.compile(r"\s+")

# Metadata keys in order of preference, per field.
_TITLE_KEYS: Final = ("og:title", "twitter:title", "itemprop:name")
_DESCRIPTION_KEYS: Final = (
    "og:description",
    "twitter:description",
    "description",
    "itemprop:description",
)
_IMAGE_KEYS: Final = (
    "og:image",
    "og:image:url",
    "og:image:secure_url",
    "twitter:image",
    "twitter:image:src",
    "itemprop:image",
    "link:image_src",
)


def _codec(label: str | None) -> str | None:
    """Python's codec name for an encoding label, or None when unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
        b"a".decode(name, "replace")  # refuses codecs that are not text encodings (rot13)
    except (LookupError, ValueError, TypeError):
        return None
    return _ALIASES.get(name, name)


def page_encoding(data: bytes, content_type: str | None = None) -> str:
    """The encoding to decode `data` with: BOM, then Content-Type, then <meta>, then a guess.

    The guess is UTF-8 when the start of the page is valid UTF-8, else windows-1252.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    if content_type:
        found = _CONTENT_TYPE_CHARSET.search(content_type)
        named = _codec(found.group(1)) if found else None
        if named is not None:
            return named
    found_meta = _META_CHARSET.search(data[:_PRESCAN_BYTES])
    if found_meta is not None:
        named = _codec(found_meta.group(1).decode("ascii", "replace"))
        if named is not None:
            # A page that could be read to find its <meta> is not UTF-16.
            return "utf-8" if named.startswith(("utf-16", "utf-32")) else named
    try:
        data[:_PRESCAN_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut by the end of the sample is not a sign of another encoding.
        if exc.start < min(len(data), _PRESCAN_BYTES) - 3:
            return "cp1252"
    return "utf-8"


def _clean(text: str | None, limit: int) -> str | None:
    """Whitespace collapsed, cut at `limit` characters; None when nothing is left."""
    if text is None:
        return None
    text = _WHITESPACE.sub(" ", text).strip()
    if not text:
        return None
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _absolute(url: str | None, base: str) -> str | None:
    """`url` resolved against `base`, if it is then an http(s) URL with a host."""
    if url is None:
        return None
    url = url.strip()
    if not url or len(url) > MAX_IMAGE_URL:
        return None
    try:
        resolved = urljoin(base, url)
        parts = urlsplit(resolved)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return resolved


class _Done(Exception):
    """Raised inside the parser once the metadata is over."""


class _HeadParser(HTMLParser):
    """Collects <meta>, <title>, <base> and <link rel=image_src> until the head ends."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.base: str | None = None
        self.title_parts: list[str] = []
        self.title_done = False
        self._in_title = False
        self._svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            raise _Done
        if tag == "svg":
            self._svg_depth += 1  # an SVG's <title> names a drawing, not the page
        values = {name: value for name, value in reversed(attrs) if value is not None}
        if tag == "meta":
            self._meta(values)
        elif tag == "title" and not self.title_done and not self._svg_depth:
            self._in_title = True
        elif tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        elif tag == "link" and "image_src" in values.get("rel", "").lower().split():
            self.meta.setdefault("link:image_src", values.get("href", ""))

    def _meta(self, values: dict[str, str]) -> None:
        content = values.get("content", values.get("value"))
        if content is None:
            return
        for attribute, prefix in (("property", ""), ("name", ""), ("itemprop", "itemprop:")):
            key = values.get(attribute)
            if key:
                self.meta.setdefault(prefix + key.strip().lower(), content)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            raise _Done
        if tag == "svg" and self._svg_depth:
            self._svg_depth -= 1
        elif tag == "title" and self._in_title:
            self._in_title = False
            self.title_done = True

    def handle_data(self, data: str) -> None:
        if self._in_title and sum(map(len, self.title_parts)) < MAX_TITLE * 4:
            self.title_parts.append(data)


def _first(meta: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = meta.get(key)
        if value is not None and value.strip():
            return value
    return None


def _feed(parser: _HeadParser, text: str, budget: float) -> None:
    """Feed `text` in slices until the head ends, the text ends or a bound is hit."""
    deadline = time.perf_counter() + budget
    try:
        for start in range(0, len(text), _SLICE):
            parser.feed(text[start : start + _SLICE])
            stuck = parser.cdata_elem is None and len(parser.rawdata) > MAX_PENDING_CHARS
            if stuck or time.perf_counter() > deadline:
                return
        parser.close()
    except _Done:
        return
    except Exception:  # noqa: S110 - hostile markup may trip html.parser's internals
        # Keep what was read so far: a partial answer beats none.
        pass


def parse_page(
    data: bytes,
    url: str,
    content_type: str | None = None,
    *,
    max_bytes: int = MAX_HEAD_BYTES,
    budget: float = DEFAULT_BUDGET,
) -> PageMeta:
    """The metadata of the HTML page `data`, fetched from (final URL) `url`.

    Relative image URLs resolve against `<base href>` (itself against `url`) or `url`.
    Only the first `max_bytes` bytes are read, for at most about `budget` seconds.
    """
    head = data[:max_bytes]
    text = head.decode(page_encoding(head, content_type), errors="replace")
    parser = _HeadParser()
    _feed(parser, text, budget)
    meta = parser.meta
    base = _absolute(parser.base, url) or url
    title = _first(meta, _TITLE_KEYS)
    if title is None and parser.title_parts:
        title = "".join(parser.title_parts)
    return PageMeta(
        title=_clean(title, MAX_TITLE),
        description=_clean(_first(meta, _DESCRIPTION_KEYS), MAX_DESCRIPTION),
        image=_absolute(_first(meta, _IMAGE_KEYS), base),
    )
