"""Ask a limiter shared by every node, and a local one while the shared one is down."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from confab.core.errors import Unavailable

log = logging.getLogger("confab.chat.fallback")


class SharedFirst:
    """Which limiter answers: the shared one, or for `pause` s after it failed, the local one.

    The pause makes an outage cost one timeout, not one per request.
    """

    __slots__ = ("_clock", "_local_until", "_pause", "_what")

    def __init__(
        self, what: str, *, pause: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._what = what
        self._pause = pause
        self._clock = clock
        self._local_until = 0.0

    async def ask(
        self, shared: Callable[[], Awaitable[bool]], local: Callable[[], Awaitable[bool]]
    ) -> bool:
        """`shared()` unless it is paused or fails with `Unavailable`; else `local()`."""
        if self._clock() >= self._local_until:
            try:
                return await shared()
            except Unavailable as error:
                log.warning("shared %s unavailable; per node for now: %s", self._what, error)
                self._local_until = self._clock() + self._pause
        return await local()
