"""Per-host concurrency and pacing of outgoing fetches: callers wait their turn, they are
never refused.

`Pacer` spaces out Confab's own requests to another host (politeness toward the sites a
preview or a batch fetches from). It is not a rate limit on Confab's users, which refuses
and says when to come back: that is `confab.core.ratelimit.RateLimiter`, the only one.

Waiting is bounded by whoever awaits (the fetcher's total deadline cancels the wait).
State is kept only for hosts in use, so a stream of distinct hosts cannot grow memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from confab.core.clock import Clock, LoopClock


class KeyedSemaphore:
    """One semaphore of `limit` slots per key, created on demand, dropped when idle."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        # key -> (semaphore, number of tasks holding or waiting for it)
        self._entries: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold one of `key`'s slots for the duration of the block."""
        semaphore, users = self._entries.get(key, (asyncio.Semaphore(self._limit), 0))
        self._entries[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._entries[key]
            if users <= 1:
                del self._entries[key]
            else:
                self._entries[key] = (semaphore, users - 1)

    def __len__(self) -> int:
        return len(self._entries)


class Pacer:
    """At most `per_minute` starts per key, evenly spaced (a token bucket of depth `burst`);
    a caller past it waits for its slot.

    Implemented as the generic cell rate algorithm: each key keeps the theoretical time
    its next request may start; a caller reserves a slot and sleeps until it comes, on
    `clock` (the event loop's by default; tests pass a `ManualClock`).
    """

    _PRUNE_AT = 1024

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        clock: Clock | None = None,
    ) -> None:
        self._interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._tolerance = self._interval * (max(burst, 1) - 1)
        self._clock = clock or LoopClock()
        self._next: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        """Whether any limit applies (a rate of 0 means none)."""
        return self._interval > 0

    def reserve(self, key: str) -> float:
        """Reserve `key`'s next slot; return how long to wait for it (0: go now)."""
        if not self.enabled:
            return 0.0
        now = self._clock.now()
        if len(self._next) >= self._PRUNE_AT:
            self._prune(now)
        theoretical = max(self._next.get(key, now), now)
        self._next[key] = theoretical + self._interval
        return max(0.0, theoretical - self._tolerance - now)

    async def wait(self, key: str) -> None:
        """Sleep until `key` may start another request."""
        # A caller cancelled while waiting leaves its slot unused rather than handing it
        # back: giving it back could put two later callers on the same slot.
        delay = self.reserve(key)
        if delay > 0:
            await self._clock.sleep(delay)

    def _prune(self, now: float) -> None:
        # A key whose next slot is in the past behaves exactly like an unknown key.
        for key in [key for key, at in self._next.items() if at <= now]:
            del self._next[key]

    def __len__(self) -> int:
        return len(self._next)
