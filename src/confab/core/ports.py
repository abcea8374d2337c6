"""Ports: the interfaces between services and the engines behind them.

Each port has an embedded default and a distributed implementation; all of them pass
the same contract tests (`tests/contract`). What crosses a port is plain data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

MessageHandler = Callable[[bytes], Awaitable[None]]
# Called when a subscription may have missed messages (the bus reconnected).
GapHandler = Callable[[], Awaitable[None]]


@runtime_checkable
class BlobStore(Protocol):
    """Content-agnostic key/value store for uploads and rendered results.

    Keys are relative paths made of `[A-Za-z0-9._-]` segments separated by `/`.
    """

    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically (readers never see a partial blob)."""

    async def get(self, key: str) -> bytes | None:
        """The blob, or None when absent."""

    async def exists(self, key: str) -> bool:
        """Whether `key` is stored."""

    async def delete(self, key: str) -> None:
        """Remove `key`; absent keys are not an error."""

    def local_path(self, key: str) -> Path | None:
        """A file path to the blob readable by processes on this machine, if the store has one."""


class Subscription(Protocol):
    async def cancel(self) -> None:
        """Stop delivering to the handler."""


@runtime_checkable
class Bus(Protocol):
    """Publish/subscribe between nodes. At-most-once; consumers repair gaps themselves.

    Messages of one channel reach a subscriber in the order they were published. A bus
    that can lose messages (a dropped connection to its engine) tells each subscription
    through `on_gap` once it is receiving again, so the consumer can catch up from its
    own store even when no later message reveals the gap. `publish` never raises for a
    bus that is down: it logs and drops (the consumer's repair covers it).
    """

    async def publish(self, channel: str, message: bytes) -> None:
        """Deliver `message` to every current subscriber of `channel` on every node."""

    async def subscribe(
        self, channel: str, handler: MessageHandler, *, on_gap: GapHandler | None = None
    ) -> Subscription:
        """Call `handler` for each message published on `channel` from now on.

        `on_gap()` runs after the bus reconnected (handlers receive again): messages
        published meanwhile may have been missed. Raises `Unavailable` after `close`.
        """

    async def close(self) -> None:
        """Release connections; subscriptions stop and later publishes are dropped."""


@runtime_checkable
class JobQueue(Protocol):
    """Runs named tasks away from the event loop: a local process pool or remote workers.

    Task names are keys of the task table given at construction (name -> "module:function");
    arguments and results are plain picklable/JSON data. Expected failures come back as
    `confab.core.errors.ConfabError`; a task past `timeout` raises `UpstreamTimeout` and a
    worker that died raises `Unprocessable` with reason `worker_crashed`.
    """

    async def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        """Run `task(*args)` on a worker and return its result."""

    async def close(self) -> None:
        """Finish in-flight tasks and stop the workers."""
