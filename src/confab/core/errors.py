"""Errors that cross layers.

Business code raises these; only the web boundary (`confab.node.errors`) turns them
into HTTP statuses, and the CLI into exit codes. Each error carries a stable reason
`code` (machine readable) and a human `detail`.
"""

from __future__ import annotations

from typing import Any, ClassVar

EXCERPT = 60  # characters of bad input an error may quote back
DETAIL_MAX = 300  # characters of any error detail sent to a client


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """At most `limit` characters of a client's input, for quoting it in an error (a
    60 KB value is not echoed back whole)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


class ConfabError(Exception):
    """Base of every expected failure. Picklable, so it can cross a process pool."""

    code: ClassVar[str] = "error"

    def __init__(self, detail: str = "", *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.reason = code
        else:
            self.reason = type(self).code

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.detail, self.reason))

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def _rebuild(cls: type[ConfabError], detail: str, reason: str) -> ConfabError:
    return cls(detail, code=reason)


class InvalidInput(ConfabError):
    """The request is malformed: bad syntax, an unknown option, an argument out of range."""

    code = "invalid_input"


class Unauthorized(ConfabError):
    """No valid credentials."""

    code = "unauthorized"


class Forbidden(ConfabError):
    """Valid request, refused by policy (bad signature, forbidden source address, ...)."""

    code = "forbidden"


class NotFound(ConfabError):
    code = "not_found"


class Conflict(ConfabError):
    code = "conflict"


class TooLarge(ConfabError):
    """Over a byte or pixel cap."""

    code = "too_large"


class UnsupportedMedia(ConfabError):
    """Not a kind of content we accept (not an image, or a disabled format)."""

    code = "unsupported_media"


class Unprocessable(ConfabError):
    """Well-formed but cannot be processed (corrupt or truncated image, ...)."""

    code = "unprocessable"


class RateLimited(ConfabError):
    """Too many of something: `retry_after` is the wait in seconds (sent as Retry-After)."""

    code = "rate_limited"

    def __init__(
        self, detail: str = "", *, code: str | None = None, retry_after: float = 1.0
    ) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class Unavailable(ConfabError):
    """The node or a dependency is not ready (starting, draining, overloaded)."""

    code = "unavailable"


class UpstreamFailed(ConfabError):
    """A remote source answered badly or could not be reached."""

    code = "upstream_failed"


class UpstreamTimeout(ConfabError):
    """A remote source, or a job, did not finish in time."""

    code = "upstream_timeout"
