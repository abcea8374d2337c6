"""Upload grants: a chat node's short-lived permission for one user to upload to media.

A browser asks its chat node for a grant (`POST /api/upload-grants`, signed in), then sends
it to the media role with the upload in the `X-Confab-Upload-Grant` header. The media role
checks the signature and the expiry and learns whose upload it is (for that user's upload
rate and byte quota); it knows nothing of chat accounts or tokens, so a media-only node
stays usable on its own, and a media-only node without the key refuses every upload.

The key is derived from the media security key every node of a fleet already shares
(`CONFAB_MEDIA_SECURITY_KEY`), with its own context: a grant is never a valid thumbnail or
internal-request signature, nor the reverse.

Grant: `<username>:<expires, unix seconds>:<hex HMAC-SHA256 of "<username>:<expires>">`.
Usernames are `[a-z0-9_.-]`, so `:` cannot occur in one. A grant is good until it expires
(minutes): it lets its holder upload as that user, within that user's limits, nothing else.
"""

from __future__ import annotations

import hmac
import re
import time
from hashlib import sha256
from typing import Final

from confab.core.errors import Unauthorized

HEADER: Final = "X-Confab-Upload-Grant"
_CONTEXT: Final = b"confab upload grants v1"
_SUBJECT = re.compile(r"[a-z0-9_.-]{1,64}")
_GRANT = re.compile(r"([a-z0-9_.-]{1,64}):([0-9]{1,12}):([0-9a-f]{64})")


def upload_grant_key(security_key: str) -> bytes:
    """The grant-signing key derived from the media security key."""
    return hmac.new(security_key.encode(), _CONTEXT, sha256).digest()


def _mac(key: bytes, subject: str, expires: int) -> str:
    return hmac.new(key, f"{subject}:{expires}".encode(), sha256).hexdigest()


def sign_grant(key: bytes, subject: str, ttl_seconds: float, now: float | None = None) -> str:
    """A grant for `subject` (a username) good for `ttl_seconds` from `now`."""
    if not _SUBJECT.fullmatch(subject):
        raise ValueError("a grant's subject is a username")
    expires = int((time.time() if now is None else now) + ttl_seconds)
    return f"{subject}:{expires}:{_mac(key, subject, expires)}"


def verify_grant(key: bytes, grant: str | None, now: float | None = None) -> str:
    """The username a valid, unexpired `grant` names; `Unauthorized` (with a reason) else."""
    if not grant:
        raise Unauthorized(
            f"an upload needs a grant ({HEADER}; POST /api/upload-grants gives one)",
            code="upload_grant_missing",
        )
    match = _GRANT.fullmatch(grant.strip())
    if match is None:
        raise Unauthorized("the upload grant is malformed", code="upload_grant_invalid")
    subject, expires_text, mac = match.groups()
    expires = int(expires_text)
    if not hmac.compare_digest(mac, _mac(key, subject, expires)):
        raise Unauthorized("the upload grant is not valid here", code="upload_grant_invalid")
    if (time.time() if now is None else now) >= expires:
        raise Unauthorized("the upload grant has expired", code="upload_grant_expired")
    return subject
