"""Closing what a node, a worker or a batch opened, in reverse order of creation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Closer = Callable[[], Awaitable[None]]
WarmUp = Callable[[], Awaitable[None]]  # must succeed before a node reports ready


async def warm_up_all(warm_ups: list[WarmUp]) -> None:
    """Run every warm-up at once; returns when all succeeded (raises the first error)."""
    await asyncio.gather(*(warm() for warm in warm_ups))


async def close_all(closers: list[Closer]) -> None:
    """Await every closer, last opened first (services before the pools they use).

    One that fails does not keep the others open: the first error is raised at the end.
    The list is left empty, so a second call closes nothing twice.
    """
    first_error: BaseException | None = None
    while closers:
        close = closers.pop()
        try:
            await close()
        except BaseException as error:
            first_error = first_error or error
    if first_error is not None:
        raise first_error
