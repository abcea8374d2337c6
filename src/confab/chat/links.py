"""Links in message text: which http(s) URLs get a preview. Pure functions, no I/O."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

#: Previews per message, at most: a message that is a list of links is not a gallery.
MAX_LINKS: Final = 3
#: Longer "URLs" are pasted data, not links anyone wants previewed.
MAX_URL_LENGTH: Final = 2048

# A scheme not glued to a word before it (so `xhttp://` is not a link), then anything up
# to whitespace or a character that cannot be in a URL as people write them.
_CANDIDATE: Final = re.compile(r"(?<![\w+.-])https?://[^\s<>\"'`{}|\\^\x00-\x1f\x7f]+", re.I)
# Punctuation that ends a sentence rather than the URL.
_TRAILING: Final = ".,;:!?*_~"
_CLOSERS: Final = {")": "(", "]": "["}


def _trim(url: str) -> str:
    """`url` without the punctuation of the sentence around it.

    A closing bracket stays when the URL opened it (`https://en.wikipedia.org/wiki/X_(y)`),
    and goes when it closes text around the link (`(see https://a.example/b)`).
    """
    while url:
        last = url[-1]
        unbalanced = last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last])
        if last not in _TRAILING and not unbalanced:
            break
        url = url[:-1]
    return url


def _usable(url: str) -> bool:
    """A URL with a host, no credentials and a valid port, short enough to fetch."""
    if len(url) > MAX_URL_LENGTH:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    if not host or "@" in parts.netloc:
        return False
    return port is None or 0 < port < 65536


def _page_key(url: str) -> str:
    """What two spellings of one page share: scheme and host case-insensitively, no fragment."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path or '/'}{query}"


def extract_urls(text: str, limit: int = MAX_LINKS) -> tuple[str, ...]:
    """The first `limit` distinct http(s) URLs in `text`, in order, as written.

    URLs that differ only by their fragment (`#part`) name the same page: the first is
    kept. Sentence punctuation after a URL is not part of it.
    """
    found: dict[str, str] = {}
    for match in _CANDIDATE.finditer(text):
        url = _trim(match.group())
        if not _usable(url):
            continue
        key = _page_key(url)
        if key in found:
            continue
        found[key] = url
        if len(found) >= limit:
            break
    return tuple(found.values())
