"""Identifiers."""

from __future__ import annotations

import hashlib
import secrets


def content_id(data: bytes) -> str:
    """Content address: hex SHA-256 of the bytes."""
    return hashlib.sha256(data).hexdigest()


def random_token(nbytes: int = 32) -> str:
    """URL-safe random token."""
    return secrets.token_urlsafe(nbytes)


def is_content_id(value: str) -> bool:
    """True for a 64-character lowercase hex string."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
