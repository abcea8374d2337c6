"""Who may upload, and how much: an upload grant, then the grant holder's limits.

The grant (`confab.core.upload_grants`) comes from a chat node; this gate only checks its
signature and expiry. Each user then has an upload rate (`upload`, uploads) and a byte
quota (`upload_bytes`, bytes refilled over a day) in the one rate limiter: over the rate
or the quota a 429 with Retry-After, one upload bigger than the whole quota a 413.
A gate without a key (a media-only node that shares no key with any chat node) refuses
every upload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confab.core.errors import Forbidden
from confab.core.ratelimit import Limit, RateLimiter
from confab.core.upload_grants import verify_grant

UPLOAD = "upload"  # uploads per user
UPLOAD_BYTES = "upload_bytes"  # bytes per user


@dataclass(frozen=True)
class UploadLimits:
    """Per user: uploads a minute (and a burst), and bytes a day."""

    per_minute: float = 30.0
    burst: float = 10.0
    bytes_per_day: int = 500 * 1024 * 1024

    def limits(self) -> dict[str, Limit]:
        """The gate's actions for the rate limiter."""
        return {
            UPLOAD: Limit.per(self.per_minute, 60.0, burst=self.burst),
            UPLOAD_BYTES: Limit.per(self.bytes_per_day, 86400.0),
        }


class UploadGate:
    """Checks an upload's grant, then counts it against its user's limits."""

    def __init__(
        self,
        key: bytes | None,
        limiter: RateLimiter,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._limiter = limiter
        self._clock = clock

    async def admit(self, grant: str | None) -> str:
        """The user a valid grant names, once the upload rate allows one more upload."""
        if self._key is None:
            raise Forbidden(
                "uploads are disabled: this media node shares no CONFAB_MEDIA_SECURITY_KEY "
                "with a chat node that could grant them",
                code="uploads_disabled",
            )
        user = verify_grant(self._key, grant, self._clock())
        await self._limiter.ratelimit(
            UPLOAD, user, code="upload_rate", detail="too many uploads; wait a little"
        )
        return user

    async def count_bytes(self, user: str, size: int) -> None:
        """Count `size` bytes against `user`'s quota (429 when over, 413 if it never fits)."""
        await self._limiter.ratelimit(
            UPLOAD_BYTES,
            user,
            max(size, 1),
            code="upload_quota",
            detail="upload byte quota used up for now",
        )
