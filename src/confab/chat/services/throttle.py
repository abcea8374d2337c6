"""Sign-in throttling: attempts counted per key in fixed windows.

The port is tiny so that it can count in Redis (shared by every node, in the adapters);
`FallbackAttemptLimiter` then counts locally while Redis is unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from confab.chat.fallback import SharedFirst


class AttemptLimiter(Protocol):
    """Counts attempts per key; refuses past `limit` attempts in a window."""

    async def allow(self, key: str) -> bool:
        """Count one attempt under `key`; False when the key is over its limit."""


class MemoryAttemptLimiter:
    """Fixed-window counters in a dict (one process)."""

    # Past this many keys, expired windows are dropped (bounds memory under a spray).
    _PRUNE_AT = 10_000

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    async def allow(self, key: str) -> bool:
        """Count one attempt under `key`; False when over the limit in this window."""
        now = self._clock()
        if len(self._windows) >= self._PRUNE_AT:
            self._prune(now)
        started, count = self._windows.get(key, (now, 0))
        if now - started >= self._window:
            started, count = now, 0
        count += 1
        self._windows[key] = (started, count)
        return count <= self._limit

    def _prune(self, now: float) -> None:
        self._windows = {
            key: (started, count)
            for key, (started, count) in self._windows.items()
            if now - started < self._window
        }


class FallbackAttemptLimiter:
    """A shared limiter, and a local one used (for `pause` s) when the shared one fails."""

    def __init__(
        self,
        shared: AttemptLimiter,
        local: AttemptLimiter,
        *,
        pause: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._local = local
        self._switch = SharedFirst("sign-in throttling", pause=pause, clock=clock)

    async def allow(self, key: str) -> bool:
        """See `AttemptLimiter.allow`."""
        return await self._switch.ask(
            lambda: self._shared.allow(key), lambda: self._local.allow(key)
        )
