"""Limits shared by every node, in Redis: the rate limiter's token buckets.

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
from confab.core.ratelimit import NEVER, Limit

# A token bucket per key: `rate` tokens a second, at most `burst`; take `cost` or nothing
# (look only when `update` is 0; a negative cost gives tokens back). Answers 0 when taken,
# -1 when `cost` is over the burst, else the milliseconds until there would be enough.
# The hash holds tokens and the time they were counted; it expires when the bucket would
# be full again (a full bucket is the same as none).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local update = tonumber(ARGV[4])
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
local wait = 0
if cost < 0 then
  if update == 1 then
    tokens = math.min(burst, tokens - cost)
  end
elseif cost > burst then
  return -1
elseif tokens >= cost then
  if update == 1 then
    tokens = tokens - cost
  end
else
  wait = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'stamp', string.format('%.6f', stamp))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return wait
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


class RedisBuckets:
    """`Buckets` (confab.core.ratelimit) on Redis: one token bucket per key for all nodes."""

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._prefix = state.key("rate", "")
        self._take = state.client.register_script(_TAKE)

    async def take(self, key: str, limit: Limit, cost: float, update: bool = True) -> float:
        """See `Buckets.take`; raises `Unavailable` when Redis cannot answer."""
        try:
            async with self._state.turns:
                wait_ms = await self._take(
                    keys=[self._prefix + key],
                    args=[limit.rate, limit.burst, cost, 1 if update else 0],
                )
        except FAILURES as error:
            raise unavailable(error, "rate limit") from None
        wait_ms = int(wait_ms)
        return NEVER if wait_ms < 0 else wait_ms / 1000
