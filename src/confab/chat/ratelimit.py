"""Per-user rate limits for WebSocket frames: token buckets behind a small port.

`RateLimiter` is what the WebSocket layer calls; `MemoryRateLimiter` keeps the buckets in
this process, and a limiter shared by every node (Redis, in the adapters) is wrapped in
`FallbackRateLimiter`, which limits locally while the shared one is unreachable. `Strikes`
counts the refusals of one connection: a client that keeps flooding after `rate_limited`
errors is disconnected (close code 4008).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from confab.chat.fallback import SharedFirst

Clock = Callable[[], float]


class RateLimiter(Protocol):
    """Admission of client frames per key (the username)."""

    async def acquire(self, key: str, cost: float = 1.0) -> bool:
        """Take `cost` tokens from `key`'s bucket; False (and nothing taken) when short."""
        ...


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, cost: float, now: float) -> bool:
        """Refill for the time passed, then take `cost` if there is that much."""
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def full_at(self) -> float:
        """When the bucket will be full again (a full bucket is the same as no bucket)."""
        return self.stamp + (self.burst - self.tokens) / self.rate if self.rate > 0 else 0.0


class MemoryRateLimiter:
    """Token buckets per key in a dict; full buckets are dropped now and then."""

    def __init__(
        self, rate: float, burst: float, *, clock: Clock = time.monotonic, sweep_every: int = 10_000
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._sweep_every = sweep_every
        self._calls = 0

    async def acquire(self, key: str, cost: float = 1.0) -> bool:
        """See `RateLimiter.acquire`."""
        return self.try_acquire(key, cost)

    def try_acquire(self, key: str, cost: float = 1.0) -> bool:
        """The synchronous form of `acquire`."""
        now = self._clock()
        self._calls += 1
        if self._calls >= self._sweep_every:
            self._calls = 0
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, now)
        return bucket.take(cost, now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full_at() <= now]:
            del self._buckets[key]


class FallbackRateLimiter:
    """A shared limiter, and a local one used while the shared one is unavailable."""

    def __init__(
        self,
        shared: RateLimiter,
        local: MemoryRateLimiter,
        *,
        pause: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._shared = shared
        self._local = local
        self._switch = SharedFirst("rate limit", pause=pause, clock=clock)

    async def acquire(self, key: str, cost: float = 1.0) -> bool:
        """See `RateLimiter.acquire`."""
        return await self._switch.ask(
            lambda: self._shared.acquire(key, cost), lambda: self._local.acquire(key, cost)
        )


class Strikes:
    """Refusals one connection may collect before it is cut off.

    A bucket of `allowed` strikes refilled at `forgive_per_second`: a client that backs
    off after a `rate_limited` error is never disconnected; one that keeps flooding is.
    """

    __slots__ = ("_bucket", "_clock")

    def __init__(
        self, allowed: int, forgive_per_second: float = 1.0, *, clock: Clock = time.monotonic
    ) -> None:
        self._clock = clock
        self._bucket = TokenBucket(forgive_per_second, max(allowed, 1), clock())

    def strike(self) -> bool:
        """Record one refusal; True when that was one too many (disconnect)."""
        return not self._bucket.take(1.0, self._clock())
