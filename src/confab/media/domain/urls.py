"""Signed media URLs, as the media role hands them out: `/media/<signature>/<path>`.

The inverse of `grammar.parse_path` + `signing.verify`: what `media_url` builds, the
thumbnail route parses back to the same options and source, and its signature verifies.
"""

from __future__ import annotations

from urllib.parse import quote

from confab.core.ids import is_content_id
from confab.media.domain.signing import sign

#: Where the thumbnail route is mounted.
MEDIA_PREFIX = "/media/"


def upload_source(upload_id: str) -> str:
    """The source part naming an upload."""
    if not is_content_id(upload_id):
        raise ValueError(f"not an upload id: {upload_id!r}")
    return f"upload/{upload_id}"


def web_source(url: str) -> str:
    """The source part naming a web image: percent-encoded whole (thumbor's encoded form).

    Encoded, the URL's own `?`, `#`, `%` and `/` cannot be mistaken for the media URL's.
    """
    return quote(url, safe="")


def media_url(key: str, options: str, source: str) -> str:
    """`/media/<signature>/<options>/<source>`; `options` may be "" (the source as is)."""
    options = options.strip("/")
    path = f"{options}/{source}" if options else source
    return f"{MEDIA_PREFIX}{sign(key, path)}/{path}"
