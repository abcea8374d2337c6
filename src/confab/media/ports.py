"""What media services need from the outside world, as Protocols (adapters live elsewhere)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol


class FetchedSource(Protocol):
    """A source fetched from the web."""

    @property
    def url(self) -> str: ...

    @property
    def data(self) -> bytes: ...


class SourceFetcher(Protocol):
    """Fetches web sources safely (see `confab.media.fetch.fetcher.SafeFetcher`)."""

    async def fetch(self, url: str, *, want: Literal["image", "page"] = "image") -> FetchedSource:
        """The body of `url`, or a ConfabError saying why not."""
        ...


class KeyLocks(Protocol):
    """Exclusive locks by key, shared by the processes of one node (single-flight
    across HTTP processes: one renders a key, the others wait and read its result)."""

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock of `key` for the duration of the `async with`."""
        ...
