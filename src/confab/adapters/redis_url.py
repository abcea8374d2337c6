"""Redis URLs as Confab reads them: redis-py's, plus Confab's own `prefix` parameter.

A Redis URL is redis-py's (`redis://[user:pass@]host:port/db`, `rediss://...`,
`unix:///path`) plus one query parameter of Confab's own, `prefix` (default `confab:`):
every key and pub/sub channel Confab uses starts with it, so several deployments (or
test runs) can share one server. Pub/sub channels ignore the db number: the prefix is
what keeps them apart.

Plain string work, apart from `redis_common`: choosing a backend by URL must not load
redis-py in a node that never talks to Redis.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from confab.core.errors import InvalidInput

DEFAULT_PREFIX = "confab:"
SCHEMES = ("redis", "rediss", "unix")
_PREFIX_CHARS = frozenset(string.ascii_letters + string.digits + ":._-{}")


@dataclass(frozen=True)
class RedisTarget:
    """A server to connect to and the prefix of Confab's keys on it."""

    url: str  # for redis-py: Confab's own query parameters removed
    prefix: str

    def key(self, *parts: str) -> str:
        """`prefix` + parts joined by `:`."""
        return self.prefix + ":".join(parts)


def is_redis_url(url: str) -> bool:
    """Whether `url` names a Redis server."""
    return urlsplit(url).scheme in SCHEMES


def parse_redis_url(url: str) -> RedisTarget:
    """Split Confab's `prefix` parameter off a Redis URL; InvalidInput when malformed."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as error:
        raise InvalidInput(f"malformed Redis URL: {error}", code="bad_setting") from None
    if parts.scheme not in SCHEMES:
        raise InvalidInput(
            f"a Redis URL starts with redis://, rediss:// or unix://, not {parts.scheme!r}",
            code="bad_setting",
        )
    prefix = DEFAULT_PREFIX
    rest = []
    for name, value in query:
        if name == "prefix":
            prefix = value
        else:
            rest.append((name, value))
    if not prefix or len(prefix) > 100 or not set(prefix) <= _PREFIX_CHARS:
        raise InvalidInput(
            "the Redis key prefix must be 1-100 characters of letters, digits and :._-{}",
            code="bad_setting",
        )
    clean = urlunsplit(parts._replace(query=urlencode(rest)))
    return RedisTarget(url=clean, prefix=prefix)
