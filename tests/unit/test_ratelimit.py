"""The one rate limiter: token buckets per (action, requester), waits, refunds, fallback,
and the strikes that end in close 4008.

The cases follow Synapse's tests/api/test_ratelimiting.py (allowed within the burst, the
wait until the next action, per-key independence, `update=False` only looking),
rewritten as our own data-driven tests.
"""

from __future__ import annotations

import math

import pytest

from confab.chat.ratelimit import Strikes
from confab.core.errors import RateLimited, TooLarge, Unavailable
from confab.core.ratelimit import (
    NEVER,
    FallbackBuckets,
    Limit,
    MemoryBuckets,
    RateLimiter,
    TokenBucket,
    retry_after_header,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# (time, wait answered) for one bucket of 2 tokens/s, burst 3, taking 1 each time.
BUCKET_STEPS = [(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.5), (0.25, 0.25), (0.5, 0.0)]


def test_bucket_spends_burst_then_refills_at_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    waits = [bucket.take(1, now) for now, _ in BUCKET_STEPS]
    assert waits == [pytest.approx(wait) for _, wait in BUCKET_STEPS]


def test_bucket_never_saves_more_than_the_burst_and_refunds_stop_there() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(1, 10.0) for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]
    bucket.take(-10, 10.0)
    assert [bucket.take(1, 10.0) for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]
    assert bucket.take(4, 10.0) == NEVER  # more than the burst never fits


async def test_limiter_is_per_action_and_requester() -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        MemoryBuckets(clock=clock), {"post": Limit(1.0, 2), "signin": Limit.per(10, 60)}
    )
    assert [await limiter.acquire("post", "ann") for _ in range(3)] == [True, True, False]
    assert await limiter.acquire("post", "bob")
    assert await limiter.acquire("signin", "ann")  # another action, another bucket
    assert await limiter.can_do("post", "ann") == pytest.approx(1.0)
    clock.now += 1.0
    assert await limiter.can_do("post", "ann", update=False) == 0.0  # only looks
    assert await limiter.acquire("post", "ann")
    assert not await limiter.acquire("post", "ann")


async def test_ratelimit_raises_with_the_wait_or_too_large() -> None:
    limiter = RateLimiter(MemoryBuckets(clock=FakeClock()), {"upload_bytes": Limit(10.0, 100)})
    await limiter.ratelimit("upload_bytes", "ann", 80)
    with pytest.raises(RateLimited) as hurried:
        await limiter.ratelimit("upload_bytes", "ann", 50, code="upload_quota")
    assert hurried.value.reason == "upload_quota"
    assert hurried.value.retry_after == pytest.approx(3.0)
    with pytest.raises(TooLarge):
        await limiter.ratelimit("upload_bytes", "ann", 101)


@pytest.mark.parametrize(
    ("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60"), (math.inf, "86400")]
)
def test_retry_after_is_whole_seconds_at_least_one(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header


def test_full_buckets_are_forgotten() -> None:
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock, sweep_every=3)
    limit = Limit(10.0, 5)
    buckets.take_now("ann", limit, 1)
    buckets.take_now("bob", limit, 1)
    assert len(buckets) == 2
    clock.now += 60
    buckets.take_now("cid", limit, 1)  # the third call sweeps, then adds cid
    assert len(buckets) == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 5), (-1, 5), (1, 0.5)])
def test_bad_limits_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        Limit(rate, burst)


def test_strikes_forgive_a_client_that_backs_off() -> None:
    clock = FakeClock()
    strikes = Strikes(3, forgive_per_second=1.0, clock=clock)
    assert [strikes.strike() for _ in range(3)] == [False, False, False]
    assert strikes.strike()  # the fourth in a row: cut off
    clock.now += 5
    assert not strikes.strike()


class Shared:
    """A shared store that can be made unreachable; its buckets are always empty."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def take(self, key: str, limit: Limit, cost: float, update: bool = True) -> float:
        self.calls += 1
        if self.down:
            raise Unavailable("redis away", code="redis_unavailable")
        return 30.0


async def test_fallback_limits_locally_for_a_while_when_the_shared_store_fails() -> None:
    clock = FakeClock()
    shared = Shared()
    buckets = FallbackBuckets(shared, MemoryBuckets(clock=clock), pause=5.0, clock=clock)
    limiter = RateLimiter(buckets, {"ws_frame": Limit(1.0, 2)})
    assert not await limiter.acquire("ws_frame", "ann")  # the shared answer counts
    shared.down = True
    assert [await limiter.acquire("ws_frame", "ann") for _ in range(3)] == [True, True, False]
    assert shared.calls == 2  # one failed call, then left alone
    shared.down = False
    clock.now += 5.0
    assert not await limiter.acquire("ws_frame", "ann")  # back to the shared store
    assert shared.calls == 3
