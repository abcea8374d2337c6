"""Token buckets, the per-user limiter and the strikes that end in close 4008."""

from __future__ import annotations

import pytest

from confab.chat.ratelimit import FallbackRateLimiter, MemoryRateLimiter, Strikes, TokenBucket
from confab.chat.services.throttle import FallbackAttemptLimiter, MemoryAttemptLimiter
from confab.core.errors import Unavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_spends_burst_then_refills_at_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(1, 0.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(1, 0.25)  # half a token
    assert bucket.take(1, 0.5)
    assert bucket.take(1, 10.0) and bucket.take(1, 10.0) and bucket.take(1, 10.0)
    assert not bucket.take(1, 10.0)  # never more than burst saved up


async def test_limiter_is_per_key() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate=1.0, burst=2, clock=clock)
    assert await limiter.acquire("ann") and await limiter.acquire("ann")
    assert not await limiter.acquire("ann")
    assert await limiter.acquire("bob")
    clock.now += 1.0
    assert await limiter.acquire("ann")
    assert not await limiter.acquire("ann")


def test_full_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(rate=10.0, burst=5, clock=clock, sweep_every=3)
    limiter.try_acquire("ann")
    limiter.try_acquire("bob")
    assert len(limiter) == 2
    clock.now += 60
    limiter.try_acquire("cid")  # the third call sweeps, then adds cid
    assert len(limiter) == 1


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        MemoryRateLimiter(rate=0, burst=5)


def test_strikes_forgive_a_client_that_backs_off() -> None:
    clock = FakeClock()
    strikes = Strikes(3, forgive_per_second=1.0, clock=clock)
    assert [strikes.strike() for _ in range(3)] == [False, False, False]
    assert strikes.strike()  # the fourth in a row: cut off
    clock.now += 5
    assert not strikes.strike()


class Shared:
    """A shared limiter that can be made unreachable."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def acquire(self, key: str, cost: float = 1.0) -> bool:
        self.calls += 1
        if self.down:
            raise Unavailable("redis away", code="redis_unavailable")
        return False  # the shared bucket is empty: everything refused

    async def allow(self, key: str) -> bool:
        return await self.acquire(key)


async def test_fallbacks_limit_locally_for_a_while_when_the_shared_limiter_fails() -> None:
    clock = FakeClock()
    shared = Shared()
    limiter = FallbackRateLimiter(
        shared, MemoryRateLimiter(1.0, 2, clock=clock), pause=5.0, clock=clock
    )
    signin = FallbackAttemptLimiter(
        shared, MemoryAttemptLimiter(1, 60.0, clock=clock), pause=5.0, clock=clock
    )
    assert not await limiter.acquire("ann")  # the shared answer counts
    assert not await signin.allow("k")
    shared.down = True
    assert [await limiter.acquire("ann") for _ in range(3)] == [True, True, False]
    assert [await signin.allow("k"), await signin.allow("k")] == [True, False]
    assert shared.calls == 4  # one failed call each, then left alone
    shared.down = False
    clock.now += 5.0
    assert not await limiter.acquire("ann")  # back to the shared limiter
    assert not await signin.allow("k")
    assert shared.calls == 6
