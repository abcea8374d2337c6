"""The manual clock runs timers in order, at their own time, and wakes sleepers."""

from __future__ import annotations

import asyncio

import pytest

from confab.core.clock import LoopClock, ManualClock


async def test_timers_run_in_deadline_order_each_at_its_time() -> None:
    clock = ManualClock(start=100.0)
    seen: list[tuple[str, float]] = []
    clock.call_later(0.3, lambda: seen.append(("c", clock.now())))
    clock.call_later(0.1, lambda: seen.append(("a", clock.now())))
    cancelled = clock.call_later(0.2, lambda: seen.append(("never", clock.now())))
    clock.call_later(0.1, lambda: seen.append(("b", clock.now())))  # same time: FIFO
    cancelled.cancel()
    assert clock.pending() == 3
    await clock.advance(0.1)
    assert seen == [("a", 100.1), ("b", 100.1)]
    await clock.advance(1.0)
    assert seen[2:] == [("c", 100.3)] and clock.now() == pytest.approx(101.1)
    assert clock.pending() == 0


async def test_sleepers_wake_when_time_passes_their_deadline() -> None:
    clock = ManualClock()
    woke: list[float] = []

    async def nap(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(clock.now())

    tasks = [asyncio.create_task(nap(s)) for s in (2.0, 1.0)]
    await clock.advance(0.5)
    assert woke == []
    await clock.advance(1.6)
    assert woke == [1.0, 2.0]
    await asyncio.gather(*tasks)


async def test_a_cancelled_sleep_leaves_no_timer_and_time_never_goes_back() -> None:
    clock = ManualClock()
    task = asyncio.create_task(clock.sleep(5))
    await clock.settle()
    assert clock.pending() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending() == 0
    with pytest.raises(ValueError):
        await clock.advance(-1)


async def test_a_timer_set_by_a_timer_runs_in_the_same_advance_if_due() -> None:
    clock = ManualClock()
    seen: list[float] = []

    def first() -> None:
        seen.append(clock.now())
        clock.call_later(0.5, lambda: seen.append(clock.now()))

    clock.call_later(1.0, first)
    await clock.advance(2.0)
    assert seen == [1.0, 1.5]


async def test_the_loop_clock_schedules_on_the_running_loop() -> None:
    clock = LoopClock()
    fired = asyncio.Event()
    before = clock.now()
    clock.call_later(0, fired.set)
    await asyncio.wait_for(fired.wait(), 5)
    await clock.sleep(0)
    assert clock.now() >= before
