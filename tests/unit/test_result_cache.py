import asyncio

import pytest

from confab.media.services.cache import ByteLRU, SingleFlight


def test_lru_evicts_least_recently_used_past_budget() -> None:
    lru = ByteLRU(max_bytes=800)
    lru.put("a", b"x" * 100, "png")
    lru.put("b", b"x" * 100, "png")
    assert lru.get("a") is not None  # a is now most recent
    for key in "cdefghi":
        lru.put(key, b"x" * 100, "png")
    assert lru.get("b") is None
    assert lru.get("a") is not None
    assert lru.get("i") == (b"x" * 100, "png")


def test_lru_skips_items_too_big_to_share_the_budget() -> None:
    lru = ByteLRU(max_bytes=800)
    lru.put("big", b"x" * 500, "png")
    assert lru.get("big") is None


async def test_single_flight_runs_identical_work_once() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    waiters = [asyncio.create_task(flights.run("k", work)) for _ in range(10)]
    await asyncio.sleep(0)  # every task has asked and waits on the one flight
    gate.set()
    results = await asyncio.gather(*waiters)
    assert calls == 1
    assert [r[0] for r in results] == [42] * 10
    assert sum(1 for _, shared in results if not shared) == 1


async def test_single_flight_survives_the_first_caller_leaving() -> None:
    flights: SingleFlight[str] = SingleFlight()
    gate = asyncio.Event()

    async def work() -> str:
        await gate.wait()
        return "done"

    first = asyncio.create_task(flights.run("k", work))
    second = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0)  # both wait on the one flight
    first.cancel()
    gate.set()
    assert (await second)[0] == "done"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_single_flight_shares_failures_then_forgets_them() -> None:
    flights: SingleFlight[int] = SingleFlight()

    async def fail() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        await flights.run("k", fail)

    async def ok() -> int:
        return 1

    assert (await flights.run("k", ok))[0] == 1
