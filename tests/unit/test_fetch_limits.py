"""The fetcher's policy and its per-host limits (semaphores, the pacer)."""

from __future__ import annotations

import asyncio

import pytest

from confab.core.clock import ManualClock
from confab.core.errors import InvalidInput
from confab.core.settings import Settings
from confab.media.fetch.limits import KeyedSemaphore, Pacer
from confab.media.fetch.policy import FetchPolicy


async def test_pacer_spaces_starts_evenly_per_key() -> None:
    clock = ManualClock(100.0)
    pacer = Pacer(60, clock=clock)  # one a second
    assert [pacer.reserve("a") for _ in range(3)] == [0.0, 1.0, 2.0]
    assert pacer.reserve("b") == 0.0  # other hosts are not held up
    await clock.advance(10)  # idle long enough: the next one goes at once
    assert pacer.reserve("a") == 0.0


async def test_pacer_waits_on_its_clock() -> None:
    clock = ManualClock()
    pacer = Pacer(60, clock=clock)
    started: list[float] = []

    async def start() -> None:
        await pacer.wait("a")
        started.append(clock.now())

    waiters = [asyncio.create_task(start()) for _ in range(3)]
    await clock.advance(1.5)
    assert started == [0.0, 1.0]  # the third is due at 2 s
    await clock.advance(0.5)
    await asyncio.gather(*waiters)
    assert started == [0.0, 1.0, 2.0]


def test_pacer_burst_lets_a_few_through_at_once() -> None:
    clock = ManualClock(100.0)
    pacer = Pacer(60, burst=3, clock=clock)
    assert [pacer.reserve("a") for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_a_zero_rate_is_no_limit() -> None:
    pacer = Pacer(0)
    assert not pacer.enabled
    assert [pacer.reserve("a") for _ in range(100)] == [0.0] * 100
    assert len(pacer) == 0


async def test_pacer_forgets_idle_hosts() -> None:
    clock = ManualClock(100.0)
    pacer = Pacer(6000, clock=clock)
    for index in range(Pacer._PRUNE_AT):
        pacer.reserve(f"host{index}")
    await clock.advance(1)
    pacer.reserve("fresh")
    assert len(pacer) == 1


async def test_keyed_semaphore_limits_each_key_and_drops_idle_ones() -> None:
    hosts = KeyedSemaphore(2)
    active = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}

    async def work(key: str) -> None:
        async with hosts.hold(key):
            active[key] += 1
            peak[key] = max(peak[key], active[key])
            await asyncio.sleep(0)  # hold across a turn of the loop: the others try
            active[key] -= 1

    await asyncio.gather(*(work(key) for key in "aaaaabbb"))
    assert peak == {"a": 2, "b": 2}
    assert len(hosts) == 0


async def test_keyed_semaphore_releases_on_cancellation() -> None:
    hosts = KeyedSemaphore(1)
    async with hosts.hold("a"):
        waiter = asyncio.create_task(_hold_once(hosts, "a"))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert len(hosts) == 0


async def _hold_once(hosts: KeyedSemaphore, key: str) -> None:
    async with hosts.hold(key):
        pass


def test_policy_from_settings() -> None:
    settings = Settings(
        media_allow_networks="10.0.0.0/8, 127.0.0.1/32",  # type: ignore[arg-type]
        media_max_source_bytes=1234,
        media_fetch_connect_timeout=1.5,
        media_fetch_read_timeout=2.5,
        media_fetch_total_timeout=9,
        media_fetch_max_redirects=2,
        media_fetch_concurrency=7,
        media_fetch_per_host=3,
        media_fetch_per_host_rate=30,
    )
    policy = FetchPolicy.from_settings(settings)
    assert policy.allow_networks == ("10.0.0.0/8", "127.0.0.1/32")
    assert [str(network) for network in policy.networks] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert (policy.max_bytes, policy.max_redirects) == (1234, 2)
    assert (policy.connect_timeout, policy.read_timeout, policy.total_timeout) == (1.5, 2.5, 9)
    assert (policy.concurrency, policy.per_host, policy.per_host_rate_per_minute) == (7, 3, 30)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"allow_networks": ("not-a-network",)}, "bad_allow_network"),
        ({"max_bytes": 0}, "bad_policy"),
        ({"total_timeout": -1}, "bad_policy"),
        ({"max_redirects": -1}, "bad_policy"),
        ({"per_host_rate_per_minute": -5}, "bad_policy"),
    ],
)
def test_bad_policy_values_are_refused(overrides: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        FetchPolicy(**overrides)  # type: ignore[arg-type]
    assert caught.value.reason == code
