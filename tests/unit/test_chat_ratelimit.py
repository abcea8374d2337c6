"""Token buckets, the per-user limiter and the strikes that end in close 4008."""

from __future__ import annotations

import pytest

from confab.chat.ratelimit import MemoryRateLimiter, Strikes, TokenBucket


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
