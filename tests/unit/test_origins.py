"""Which pages may open /ws: the node's own host by default, or the configured origins."""

from __future__ import annotations

import pytest

from confab.chat.web.origins import origin_allowed


def _scope(origin: str | None, host: str | None = "chat.example.org") -> dict[str, object]:
    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if host is not None:
        headers.append((b"host", host.encode()))
    return {"headers": headers}


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "expected"),
    [
        (None, "chat.example.org", (), True),  # not a browser page
        ("https://chat.example.org", "chat.example.org", (), True),
        ("http://localhost:8080", "localhost:8080", (), True),
        ("HTTPS://Chat.Example.org/", "chat.example.org", (), True),
        ("https://evil.example", "chat.example.org", (), False),
        ("https://chat.example.org.evil.example", "chat.example.org", (), False),
        ("http://localhost:9999", "localhost:8080", (), False),  # another port, another site
        ("null", "chat.example.org", (), False),  # sandboxed frames, file:// pages
        ("https://chat.example.org", None, (), False),
        ("https://app.example.org", "chat.example.org", ("https://app.example.org",), True),
        ("https://chat.example.org", "chat.example.org", ("https://app.example.org",), False),
    ],
)
def test_origins(
    origin: str | None, host: str | None, allowed: tuple[str, ...], expected: bool
) -> None:
    assert origin_allowed(_scope(origin, host), allowed) is expected
