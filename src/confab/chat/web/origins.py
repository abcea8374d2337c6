"""Which pages may open `/ws`: the `Origin` of a browser's handshake, checked.

A browser sends `Origin` with every WebSocket handshake and lets any page open a socket to
any host: without this check, another site's page could talk to Confab from a visitor's
browser, on the visitor's network. Allowed: the origins of `CONFAB_CHAT_ALLOWED_ORIGINS`, or by
default the node's own host (the `Host` the browser connected to, which behind a proxy is
the public one). A handshake without `Origin` is not from a browser page, and is allowed
(tickets still authenticate it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def origin_allowed(scope: dict[str, Any], allowed: Sequence[str]) -> bool:
    """Whether the handshake in `scope` comes from an allowed page (or no page at all)."""
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    if allowed:
        return origin in {a.strip().lower().rstrip("/") for a in allowed}
    host = _header(scope, b"host")
    if not host:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()
