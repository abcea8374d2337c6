"""Small helpers for caching rendered results: an in-process LRU and single-flight."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ByteLRU:
    """Least-recently-used map of keys to byte strings, bounded by total size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._size = 0

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The (data, format) stored under `key`, marking it recently used."""
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: str, data: bytes, fmt: str) -> None:
        """Store, evicting the least recently used entries past the budget."""
        if len(data) > self.max_bytes // 8:
            return  # one huge result must not flush the hot set
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= len(old[0])
        self._items[key] = (data, fmt)
        self._size += len(data)
        while self._size > self.max_bytes and self._items:
            _, (evicted, _) = self._items.popitem(last=False)
            self._size -= len(evicted)


class SingleFlight(Generic[T]):
    """Runs one call per key at a time; concurrent callers of the same key share its result.

    The work runs in a task of its own, so a caller that goes away (a client that
    disconnects) does not cancel the work the other callers are waiting for.
    """

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[T]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Return (result, shared): shared is True when another caller started the work."""
        task = self._inflight.get(key)
        shared = task is not None
        if task is None:
            task = asyncio.ensure_future(work())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task), shared

    def _finished(self, key: str, task: asyncio.Task[T]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # observed here: every caller may have gone away
