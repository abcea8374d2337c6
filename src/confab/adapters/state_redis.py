"""Limits shared by every node, in Redis: WebSocket rate limits and sign-in throttling.

Each check is one EVAL (redis-py runs EVALSHA and loads the script again after a Redis
restart), atomic on the server, timed by the server's clock (`TIME`) so nodes whose
clocks differ still share one bucket. Keys expire by themselves once they hold nothing
worth keeping. A failure raises `Unavailable`: the chat side then falls back to a local
limit for a while rather than refusing or admitting everything.

`RedisState` owns the client (a small blocking pool) that these and the presence store
share; close it last.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from confab.adapters.redis_common import FAILURES, command_client, unavailable
from confab.adapters.redis_url import RedisTarget, parse_redis_url

# A token bucket per key: `rate` tokens a second, at most `burst`; take `cost` or nothing.
# The hash holds tokens and the time they were counted; it expires when the bucket would
# be full again (a full bucket is the same as none).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(saved[1])
local stamp = tonumber(saved[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'stamp', string.format('%.6f', stamp))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return allowed
"""

# A fixed window per key: count one attempt, start the window's clock with the first.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
"""


class RedisState:
    """The Redis client and key prefix the shared-state adapters of a node use."""

    def __init__(
        self,
        url: str,
        *,
        max_connections: int = 16,
        connect_timeout: float = 0.5,
        timeout: float = 0.5,  # a client frame waits at most about twice this once
    ) -> None:
        self.target: RedisTarget = parse_redis_url(url)
        # Callers take turns here, first come first served, never more than the pool
        # holds: the pool's own wait lets a newcomer barge past a waiter, which then
        # starves (with a few hundred callers, some waited past the timeout).
        self.turns = asyncio.Semaphore(max_connections)
        self.client: Redis = command_client(
            self.target,
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            timeout=timeout,
        )

    def key(self, *parts: str) -> str:
        """A key under this deployment's prefix."""
        return self.target.key(*parts)

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.aclose(close_connection_pool=True)


class RedisRateLimiter:
    """`RateLimiter` (chat.ratelimit) on Redis: one token bucket per key for all nodes."""

    def __init__(self, state: RedisState, rate: float, burst: float, *, name: str = "ws") -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._state = state
        self._rate = rate
        self._burst = burst
        self._prefix = state.key("rate", name, "")
        self._take = state.client.register_script(_TAKE)

    async def acquire(self, key: str, cost: float = 1.0) -> bool:
        """Take `cost` tokens from `key`'s bucket; False (and nothing taken) when short."""
        try:
            async with self._state.turns:
                allowed = await self._take(
                    keys=[self._prefix + key], args=[self._rate, self._burst, cost]
                )
        except FAILURES as error:
            raise unavailable(error, "rate limit") from None
        return bool(allowed)


class RedisAttemptLimiter:
    """`AttemptLimiter` (chat.services.throttle) on Redis: fixed windows for all nodes."""

    def __init__(
        self, state: RedisState, limit: int, window_seconds: float, *, name: str = "signin"
    ) -> None:
        self._state = state
        self._limit = limit
        self._window_ms = max(1, round(window_seconds * 1000))
        self._prefix = state.key("attempts", name, "")
        self._count = state.client.register_script(_COUNT)

    async def allow(self, key: str) -> bool:
        """Count one attempt under `key`; False when over the limit in this window."""
        try:
            async with self._state.turns:
                count = await self._count(keys=[self._prefix + key], args=[self._window_ms])
        except FAILURES as error:
            raise unavailable(error, "attempt limit") from None
        return int(count) <= self._limit
