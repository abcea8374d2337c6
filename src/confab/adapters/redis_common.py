"""What every Redis adapter shares: the URL (with Confab's key prefix), clients, errors.

A Redis URL is redis-py's (`redis://[user:pass@]host:port/db`, `rediss://...`,
`unix:///path`) plus one query parameter of Confab's own, `prefix` (default `confab:`):
every key and pub/sub channel Confab uses starts with it, so several deployments (or
test runs) can share one server. Pub/sub channels ignore the db number: the prefix is
what keeps them apart.

Clients retry at most once inside redis-py (a connection found closed): beyond that
callers decide (the bus reconnects with backoff, limiters fall back to local state), and
socket timeouts keep a hung server from hanging a request.
"""

from __future__ import annotations

import asyncio
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from confab.core.errors import InvalidInput, Unavailable

DEFAULT_PREFIX = "confab:"
SCHEMES = ("redis", "rediss", "unix")
_PREFIX_CHARS = frozenset(string.ascii_letters + string.digits + ":._-{}")

# Failures that mean "Redis is unreachable right now" (as opposed to a bad command).
DOWN_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    asyncio.TimeoutError,
)
# Any failure of a Redis call.
FAILURES: tuple[type[BaseException], ...] = (*DOWN_ERRORS, RedisError)


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


def _options(connect_timeout: float, timeout: float, retries: int = 0) -> dict[str, Any]:
    return {
        "protocol": 2,  # plain replies (pub/sub messages as arrays), any server version
        "retry": Retry(NoBackoff(), retries),
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": timeout,
        "socket_keepalive": True,
    }


def connection_pool(
    target: RedisTarget, *, connect_timeout: float, timeout: float
) -> ConnectionPool:
    """A pool to make single connections from (the bus's subscriber)."""
    try:
        return ConnectionPool.from_url(target.url, **_options(connect_timeout, timeout))
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"bad Redis URL: {error}", code="bad_setting") from None


def command_client(
    target: RedisTarget,
    *,
    max_connections: int = 16,
    connect_timeout: float = 1.0,
    timeout: float = 1.0,
    single_connection: bool = False,
) -> Redis:
    """A client for commands: a bounded pool, or one connection used in turn.

    A command is tried again once, at once, on a connection error: after a Redis restart
    the first use of each pooled connection finds it closed.
    """
    options = _options(connect_timeout, timeout, retries=1)
    try:
        if single_connection:
            return Redis.from_url(target.url, single_connection_client=True, **options)
        pool = BlockingConnectionPool.from_url(
            target.url, max_connections=max_connections, timeout=timeout, **options
        )
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"bad Redis URL: {error}", code="bad_setting") from None
    return Redis(connection_pool=pool)


def unavailable(error: BaseException, what: str) -> Unavailable:
    """The core error for a Redis failure while doing `what`."""
    if isinstance(error, DOWN_ERRORS):
        return Unavailable(f"Redis unreachable ({what}): {error}", code="redis_unavailable")
    if isinstance(error, RedisError):
        return Unavailable(f"Redis refused {what}: {error}", code="redis_error")
    return Unavailable(f"{what} failed: {error}", code="redis_error")
