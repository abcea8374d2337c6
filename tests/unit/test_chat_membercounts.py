"""Cached room sizes: one load for many callers, expiry, errors."""

from __future__ import annotations

import asyncio

import pytest

from confab.chat.membercounts import MemberCounts


async def test_concurrent_callers_share_one_load_and_the_cache_expires() -> None:
    now = [0.0]
    counts = MemberCounts(ttl=5, clock=lambda: now[0])
    loads = 0
    loaded = asyncio.Event()
    loaded.set()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await loaded.wait()  # the first load is held until every caller waits on it
        return 42

    loaded.clear()
    callers = [asyncio.create_task(counts.get("r", load)) for _ in range(50)]
    await asyncio.sleep(0)  # every caller has asked
    loaded.set()
    assert await asyncio.gather(*callers) == [42] * 50
    assert loads == 1
    now[0] = 4.9
    assert await counts.get("r", load) == 42 and loads == 1
    now[0] = 5.1
    assert await counts.get("r", load) == 42 and loads == 2
    counts.forget("r")
    assert await counts.get("r", load) == 42 and loads == 3


async def test_a_failed_load_fails_its_waiters_and_is_not_cached() -> None:
    counts = MemberCounts()
    calls = 0
    failing = asyncio.Event()
    failing.set()

    async def broken() -> int:
        nonlocal calls
        calls += 1
        await failing.wait()  # the first load is held until every caller waits on it
        raise RuntimeError("db down")

    failing.clear()
    callers = [asyncio.create_task(counts.get("r", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    failing.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and calls == 1

    async def ok() -> int:
        return 3

    assert await counts.get("r", ok) == 3
    with pytest.raises(RuntimeError):
        await counts.get("s", broken)


async def test_old_entries_are_dropped_when_full() -> None:
    now = [0.0]
    counts = MemberCounts(ttl=1, clock=lambda: now[0], max_entries=2)

    async def one() -> int:
        return 1

    await counts.get("a", one)
    await counts.get("b", one)
    now[0] = 2
    await counts.get("c", one)
    assert set(counts._counts) == {"c"}
