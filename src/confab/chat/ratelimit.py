"""How many `rate_limited` refusals one WebSocket connection may collect.

Admission itself is the one rate limiter's (`confab.core.ratelimit`, action `ws_frame`);
`Strikes` only counts the refusals of one connection: a client that keeps flooding after
`rate_limited` errors is disconnected (close code 4008).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confab.core.ratelimit import TokenBucket

Clock = Callable[[], float]


class Strikes:
    """Refusals one connection may collect before it is cut off.

    A bucket of `allowed` strikes refilled at `forgive_per_second`: a client that backs
    off after a `rate_limited` error is never disconnected; one that keeps flooding is.
    """

    __slots__ = ("_bucket", "_clock")

    def __init__(
        self, allowed: int, forgive_per_second: float = 1.0, *, clock: Clock = time.monotonic
    ) -> None:
        self._clock = clock
        self._bucket = TokenBucket(forgive_per_second, max(allowed, 1), clock())

    def strike(self) -> bool:
        """Record one refusal; True when that was one too many (disconnect)."""
        return self._bucket.take(1.0, self._clock()) > 0
