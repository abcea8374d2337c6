"""What media services need from the outside world, as Protocols (adapters live elsewhere)."""

from __future__ import annotations

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
