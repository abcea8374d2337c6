"""Validation of blob keys, shared by every BlobStore."""

from __future__ import annotations

import re

from confab.core.errors import InvalidInput

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative path, else raise InvalidInput."""
    parts = key.split("/")
    if not key or len(key) > 512 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise InvalidInput(f"bad blob key {key!r}", code="bad_blob_key")
    return key
