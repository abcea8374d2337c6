"""In-memory implementations of the ports, for tests and single-process use."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from confab.core.blobkeys import check_key
from confab.core.errors import Unavailable, UpstreamTimeout
from confab.core.ports import GapHandler, MessageHandler
from confab.core.tasks import resolve_task


class MemoryBlobStore:
    """A dict of blobs."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes) -> None:
        self._blobs[check_key(key)] = bytes(data)

    async def get(self, key: str) -> bytes | None:
        return self._blobs.get(check_key(key))

    async def exists(self, key: str) -> bool:
        return check_key(key) in self._blobs

    async def delete(self, key: str) -> None:
        self._blobs.pop(check_key(key), None)

    def local_path(self, key: str) -> Path | None:
        return None


class _MemorySubscription:
    def __init__(self, bus: InProcessBus, channel: str, handler: MessageHandler) -> None:
        self._bus, self._channel, self._handler = bus, channel, handler

    async def cancel(self) -> None:
        handlers = self._bus._handlers.get(self._channel)
        if handlers is not None:
            with contextlib.suppress(ValueError):
                handlers.remove(self._handler)


class InProcessBus:
    """Pub/sub inside one process; handlers run in order of subscription.

    Nothing is ever lost in between, so `on_gap` callbacks never fire.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[MessageHandler]] = defaultdict(list)
        self._closed = False

    async def publish(self, channel: str, message: bytes) -> None:
        for handler in list(self._handlers.get(channel, ())):
            await handler(message)

    async def subscribe(
        self, channel: str, handler: MessageHandler, *, on_gap: GapHandler | None = None
    ) -> _MemorySubscription:
        if self._closed:
            raise Unavailable("the bus is closed", code="bus_closed")
        self._handlers[channel].append(handler)
        return _MemorySubscription(self, channel, handler)

    async def close(self) -> None:
        self._closed = True
        self._handlers.clear()


class InlineJobQueue:
    """Runs tasks in a thread of this process: no isolation, for tests only."""

    def __init__(self, tasks: Mapping[str, str]) -> None:
        self._tasks = dict(tasks)

    async def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        function = resolve_task(self._tasks, task)
        try:
            return await asyncio.wait_for(asyncio.to_thread(function, *args), timeout)
        except TimeoutError:
            raise UpstreamTimeout(
                f"task {task} ran past its {timeout}s limit", code="job_timeout"
            ) from None

    async def close(self) -> None:
        return None
