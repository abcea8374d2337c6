"""Clocks for timers: the event loop's in production, a manual one that tests advance.

Code that waits (a presence grace period, a heartbeat, a throttle window) takes a `Clock`
instead of calling `time.monotonic`, `loop.call_later` or `asyncio.sleep` itself, so a test
moves time forward in one call instead of sleeping for real. The manual clock follows the
idea of trio's `MockClock` (time only moves when told); asyncio has no hook to notice that
every task is blocked, so instead of trio's autojump the test says how far to jump
(`ManualClock.advance`) and the clock runs each timer due on the way, in order, at its own
time, letting the loop run the work each one starts. Written here because asyncio ships
no such clock and the test-only libraries that do (e.g. a patched event loop) replace the
loop itself, which the servers and clients under test would then also run on.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A callback scheduled on a clock."""

    def cancel(self) -> None:
        """Do not run it (no effect once it ran)."""
        ...


class Clock(Protocol):
    """Monotonic seconds, timers and sleeps on one time line."""

    def now(self) -> float:
        """Seconds on this clock's time line (only differences mean anything)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run `callback` once, `delay` seconds from now (from the event loop)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after `seconds` on this clock."""
        ...


class LoopClock:
    """The running event loop's clock (`time.monotonic`), timers and sleep."""

    __slots__ = ()

    def now(self) -> float:
        """See `Clock.now`."""
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """See `Clock.call_later`."""
        return asyncio.get_running_loop().call_later(delay, callback)

    async def sleep(self, seconds: float) -> None:
        """See `Clock.sleep`."""
        await asyncio.sleep(seconds)


class _ManualTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when `advance` is called (tests).

    `settle_rounds`: how many event-loop turns to give the tasks woken by each timer
    before the next one fires (enough for a callback that starts a task which awaits a
    few in-memory coroutines).
    """

    def __init__(self, start: float = 0.0, *, settle_rounds: int = 20) -> None:
        self._now = start
        self._settle_rounds = settle_rounds
        self._order = itertools.count()
        self._timers: list[tuple[float, int, _ManualTimer]] = []

    def now(self) -> float:
        """See `Clock.now`."""
        return self._now

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """See `Clock.call_later`."""
        timer = _ManualTimer(self._now + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        """See `Clock.sleep`: wakes when `advance` passes the deadline."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await woken
        finally:
            timer.cancel()

    def pending(self) -> int:
        """Timers scheduled and not cancelled."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    async def settle(self) -> None:
        """Let ready tasks run without moving time."""
        for _ in range(self._settle_rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, running each timer due on the way at its time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        target = self._now + seconds
        await self.settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
            await self.settle()
        self._now = target
        await self.settle()
