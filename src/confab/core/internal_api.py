"""The media role's internal HTTP API (what chat calls when media runs elsewhere).

Endpoints (JSON in, JSON out, POST because the inputs are lists; both are idempotent reads):
- `ATTACHMENTS`: `{"ids": [upload id, ...]}` -> `{"attachments": [{"id", "width",
  "height", "thumbnail_url", "full_url"}, ...]}` (stored uploads only, in request order);
- `PREVIEWS`: `{"urls": [url, ...]}` -> `{"previews": [{"url", "title", "description",
  "image"}, ...]}` (pages that fail are left out).
Bad input is a 400 with a reason, a missing or bad signature a 401.

Requests are signed with a key derived from the media security key every node of a fleet
already shares (`CONFAB_MEDIA_SECURITY_KEY`): one secret to configure, and the derivation
keeps the two uses apart (a request signature is never a valid thumbnail URL signature,
nor the reverse).

Header: `X-Confab-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
`"<t>\\n<endpoint>\\n" + body`. `endpoint` is the route's logical path (not the path as a
proxy may have rewritten it). A signature is accepted for `MAX_SKEW_SECONDS` either side
of the receiver's clock; the endpoints it guards are idempotent reads, so a replay
inside that window gains nothing.
"""

from __future__ import annotations

import hmac
import time
from hashlib import sha256
from typing import Final

from confab.core.errors import Unauthorized

ATTACHMENTS: Final = "/media/internal/attachments"
PREVIEWS: Final = "/media/internal/previews"
#: Caps on one request (chat sends at most 10 attachments and 3 links per message).
MAX_IDS: Final = 100
MAX_URLS: Final = 20
MAX_URL_LENGTH: Final = 2048
MAX_BODY_BYTES: Final = 64 * 1024

HEADER: Final = "X-Confab-Signature"
MAX_SKEW_SECONDS: Final = 300
_CONTEXT: Final = b"confab internal requests v1"


def internal_key(security_key: str) -> bytes:
    """The request-signing key derived from the media security key."""
    return hmac.new(security_key.encode(), _CONTEXT, sha256).digest()


def _mac(key: bytes, stamp: int, endpoint: str, body: bytes) -> str:
    return hmac.new(key, f"{stamp}\n{endpoint}\n".encode() + body, sha256).hexdigest()


def sign_request(key: bytes, endpoint: str, body: bytes, now: float | None = None) -> str:
    """The header value signing `body` sent to `endpoint` at `now` (default: the clock)."""
    stamp = int(time.time() if now is None else now)
    return f"t={stamp},v1={_mac(key, stamp, endpoint, body)}"


def verify_request(
    key: bytes, endpoint: str, body: bytes, header: str | None, now: float | None = None
) -> None:
    """Raise `Unauthorized` (with a reason) unless `header` signs `body` for `endpoint`."""
    if not header:
        raise Unauthorized(f"internal endpoint: {HEADER} header missing", code="signature_missing")
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    stamp_text, mac = fields.get("t", ""), fields.get("v1", "")
    if not stamp_text.isdigit() or not mac:
        raise Unauthorized(f"{HEADER} is not t=<seconds>,v1=<hex>", code="signature_malformed")
    stamp = int(stamp_text)
    clock = time.time() if now is None else now
    if abs(clock - stamp) > MAX_SKEW_SECONDS:
        raise Unauthorized(
            "the request signature is too old or from the future (check the clocks)",
            code="signature_expired",
        )
    if not hmac.compare_digest(mac, _mac(key, stamp, endpoint, body)):
        raise Unauthorized(
            "bad request signature: CONFAB_MEDIA_SECURITY_KEY must be the same on every node",
            code="signature_invalid",
        )
