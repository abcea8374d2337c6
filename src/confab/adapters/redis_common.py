"""What every Redis adapter shares: clients and errors (URLs: `redis_url`).

Clients retry at most once inside redis-py (a connection found closed): beyond that
callers decide (the bus reconnects with backoff, limiters fall back to local state), and
socket timeouts keep a hung server from hanging a request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from confab.adapters.redis_url import RedisTarget
from confab.core.errors import InvalidInput, Unavailable

# Failures that mean "Redis is unreachable right now" (as opposed to a bad command).
DOWN_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    asyncio.TimeoutError,
)
# Any failure of a Redis call.
FAILURES: tuple[type[BaseException], ...] = (*DOWN_ERRORS, RedisError)


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
