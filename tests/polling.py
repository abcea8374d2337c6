"""Waiting for another process or a real network event: poll the condition to a deadline.

Used where a test waits for something outside its own event loop (a server that starts, a
worker that picks up a job, Redis that drops a connection). The interval only sets how
soon the wait notices; a test's outcome never depends on it, and the deadline only turns
a hang into a clear failure. Timers inside Confab are driven by `ManualClock` instead.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

INTERVAL = 0.01


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
    """Call `condition` until it returns something truthy (returned); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not met within {timeout} s")
        time.sleep(INTERVAL)


async def until(
    condition: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,
    what: str = "the condition",
    *,
    detail: Callable[[], str] | None = None,
) -> T:
    """`wait_until` for the event loop; `condition` may be a coroutine function.
    `detail`: more to say on failure (e.g. the logs of the processes waited for)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            more = "" if detail is None else f"\n{detail()}"
            raise AssertionError(f"{what}: not met within {timeout} s{more}")
        await asyncio.sleep(INTERVAL)
