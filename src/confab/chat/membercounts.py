"""Room sizes, cached for a few seconds, each loaded once however many ask at the same time.

A join needs the room's member count (to tell a large room from a small one, and for the
`joined` frame). When a thousand clients join one room at once, one query answers all of
them; a count a few seconds old is good enough for both uses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]


class MemberCounts:
    """`get(key, load)`: the cached count of `key`, else `await load()` (single flight)."""

    def __init__(
        self, ttl: float = 5.0, *, clock: Clock = time.monotonic, max_entries: int = 10_000
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._counts: dict[str, tuple[int, float]] = {}
        self._loading: dict[str, asyncio.Future[int]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[int]]) -> int:
        """The count for `key`, loading it when absent or older than `ttl`."""
        now = self._clock()
        cached = self._counts.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            count = await load()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._loading[key]
        future.set_result(count)
        if len(self._counts) >= self._max:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        self._counts[key] = (count, now + self._ttl)
        return count

    def forget(self, key: str) -> None:
        """Drop `key`'s count (membership changed)."""
        self._counts.pop(key, None)
