"""The rate limiter's buckets for a role: in Redis when the bus is (shared by every node),
else in this process; a shared store that fails is stood in for locally for a while."""

from __future__ import annotations

from confab.adapters.redis_url import is_redis_url
from confab.core.lifecycle import Closer
from confab.core.ratelimit import Buckets, FallbackBuckets, MemoryBuckets
from confab.core.settings import Settings


def make_buckets(settings: Settings, closers: list[Closer]) -> Buckets:
    """Buckets for this node's limits (their Redis client, if any, is closed last)."""
    if not is_redis_url(settings.bus_url):
        return MemoryBuckets()
    # Imported here: a node on the in-process bus never loads redis-py.
    from confab.adapters.state_redis import RedisBuckets, RedisState

    state = RedisState(settings.bus_url, max_connections=4)
    closers.append(state.close)
    return FallbackBuckets(RedisBuckets(state), MemoryBuckets())
