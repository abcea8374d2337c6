"""Event-loop lag: how late a timer fires, the first sign that a node is saturated.

CPU use says a node is busy; loop lag says its clients wait. A task sleeps `interval`
seconds and records how much later than asked it woke up. Hand-written because it is a
few lines, and the libraries that do it (aiomonitor, aiodebug) bring far more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Histogram


async def watch_loop_lag(
    histogram: Histogram,
    *,
    interval: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rounds: int | None = None,
) -> None:
    """Observe the loop's lag every `interval` seconds until cancelled (or `rounds` done)."""
    done = 0
    while rounds is None or done < rounds:
        asked = clock()
        await sleep(interval)
        histogram.observe(max(0.0, clock() - asked - interval))
        done += 1
