"""The one rate limiter of Confab: token buckets keyed by (action, requester).

Every write that can be repeated has an action name and a `Limit` (a rate and a burst):
WebSocket frames, HTTP posts, sign-in attempts, registrations, uploads and upload bytes.
`RateLimiter` answers "may `requester` do `action` now (costing `cost`)?" and, when not,
how many seconds until it may; `ratelimit` raises `RateLimited` carrying that wait, which
the web boundary sends as `Retry-After`.

Modelled on Synapse's `synapse/api/ratelimiting.py` (one class, buckets keyed by action
and requester, a clock given to it, an `update=False` peek), rewritten for Confab: the
buckets live behind the `Buckets` port, so that a fleet keeps them in Redis (one bucket
for every node, `confab.adapters.state_redis.RedisBuckets`) and a single process in a
dict (`MemoryBuckets`). `FallbackBuckets` asks the shared store and, while it is
unreachable, counts per node for a short pause instead of admitting or refusing all.

Written here rather than taken from a library: the limits libraries on PyPI either have
no Redis backend timed by the server's clock, or no "seconds until allowed" answer.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from confab.core.errors import RateLimited, TooLarge, Unavailable

log = logging.getLogger("confab.ratelimit")

Clock = Callable[[], float]
NEVER = math.inf  # the wait for a cost larger than the burst: it will never fit


@dataclass(frozen=True, slots=True)
class Limit:
    """`rate` tokens a second, at most `burst` saved up (a full bucket at first)."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")

    @classmethod
    def per(cls, count: float, seconds: float, burst: float | None = None) -> Limit:
        """`count` actions every `seconds`, `burst` (default `count`) at once."""
        return cls(count / seconds, count if burst is None else burst)


class TokenBucket:
    """One bucket in memory; `take` returns 0.0 when taken, else the seconds to wait."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, cost: float, now: float, update: bool = True) -> float:
        """Refill for the time passed; take `cost` (unless `update` is False) if there is.

        A negative `cost` gives tokens back (never past the burst).
        """
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now
        if cost < 0:
            if update:
                self.tokens = min(self.burst, self.tokens - cost)
            return 0.0
        if cost > self.burst:
            return NEVER
        if self.tokens >= cost:
            if update:
                self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate

    def full_at(self) -> float:
        """When the bucket will be full again (a full bucket is the same as no bucket)."""
        return self.stamp + (self.burst - self.tokens) / self.rate


class Buckets(Protocol):
    """Where the buckets live: this process, or a store every node shares."""

    async def take(self, key: str, limit: Limit, cost: float, update: bool = True) -> float:
        """Take `cost` from `key`'s bucket: 0.0 if taken, else seconds until it would be.

        `update=False` only looks; a negative `cost` gives tokens back (a refund). A
        shared store that cannot answer raises `Unavailable`.
        """
        ...


class MemoryBuckets:
    """Buckets in a dict; full ones are dropped now and then (bounded under a spray)."""

    def __init__(self, *, clock: Clock = time.monotonic, sweep_every: int = 10_000) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._sweep_every = sweep_every
        self._calls = 0

    async def take(self, key: str, limit: Limit, cost: float, update: bool = True) -> float:
        """See `Buckets.take`."""
        return self.take_now(key, limit, cost, update)

    def take_now(self, key: str, limit: Limit, cost: float, update: bool = True) -> float:
        """The synchronous form of `take`."""
        now = self._clock()
        self._calls += 1
        if self._calls >= self._sweep_every:
            self._calls = 0
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(limit.rate, limit.burst, now)
        return bucket.take(cost, now, update)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full_at() <= now]:
            del self._buckets[key]


class FallbackBuckets:
    """A shared store, and local buckets for `pause` s each time the shared one fails.

    The pause makes an outage cost one timeout, not one per request.
    """

    def __init__(
        self,
        shared: Buckets,
        local: Buckets,
        *,
        pause: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._shared = shared
        self._local = local
        self._pause = pause
        self._clock = clock
        self._local_until = 0.0

    async def take(self, key: str, limit: Limit, cost: float, update: bool = True) -> float:
        """See `Buckets.take`."""
        if self._clock() >= self._local_until:
            try:
                return await self._shared.take(key, limit, cost, update)
            except Unavailable as error:
                log.warning("shared rate limits unavailable; per node for now: %s", error)
                self._local_until = self._clock() + self._pause
        return await self._local.take(key, limit, cost, update)


class RateLimiter:
    """Admission of actions per (action, requester), each action with its own `Limit`.

    `requester` is the username where there is a user, else the client address.
    """

    def __init__(self, buckets: Buckets, limits: Mapping[str, Limit]) -> None:
        self._buckets = buckets
        self._limits = dict(limits)

    def limit(self, action: str) -> Limit:
        """The limit of `action` (KeyError for an action nobody configured)."""
        return self._limits[action]

    async def can_do(
        self, action: str, requester: str, cost: float = 1.0, *, update: bool = True
    ) -> float:
        """0.0 if `requester` may do `action` now (and it is counted unless `update` is
        False); else the seconds until it may (`NEVER`: `cost` is over the burst)."""
        key = f"{action}:{requester}"
        return await self._buckets.take(key, self._limits[action], cost, update)

    async def refund(self, action: str, requester: str, cost: float = 1.0) -> None:
        """Give back what an action took (sign-in counts failures only: a success refunds)."""
        await self.can_do(action, requester, -cost)

    async def acquire(self, action: str, requester: str, cost: float = 1.0) -> bool:
        """Count the action and say whether it was allowed."""
        return await self.can_do(action, requester, cost) == 0.0

    async def ratelimit(
        self,
        action: str,
        requester: str,
        cost: float = 1.0,
        *,
        update: bool = True,
        code: str = "rate_limited",
        detail: str = "too many requests; slow down",
    ) -> None:
        """Count the action, or raise `RateLimited` with the wait as `retry_after`
        (`TooLarge` when `cost` alone is over the burst: waiting would not help)."""
        wait = await self.can_do(action, requester, cost, update=update)
        if math.isinf(wait):
            raise TooLarge(f"{detail} (over the whole allowance)", code=f"{code}_too_large")
        if wait > 0:
            raise RateLimited(detail, code=code, retry_after=wait)


def retry_after_header(seconds: float) -> str:
    """`Retry-After` for a wait: whole seconds, at least 1 (a day for `NEVER`)."""
    if math.isinf(seconds):
        return "86400"
    return str(max(1, math.ceil(seconds)))
