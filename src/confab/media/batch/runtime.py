"""What the batch needs from outside, built by the composition root (`confab.bootstrap`).

`confab.media.batch` may not import the adapters, so the CLI hands the command a factory
that turns settings into a `BatchRuntime` (the process pool and the safe fetcher).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from confab.core.lifecycle import Closer, close_all
from confab.core.ports import JobQueue
from confab.core.settings import Settings

if TYPE_CHECKING:  # only a type here: the batch runs without importing the renderer
    from confab.media.imaging.limits import RenderLimits


class FetchedBody(Protocol):
    """What the batch uses of a fetched source."""

    @property
    def data(self) -> bytes: ...


class SourceFetcher(Protocol):
    """Fetches web sources safely (`confab.media.fetch.fetcher.SafeFetcher` in production)."""

    async def fetch(self, url: str, *, want: Literal["image", "page"] = "image") -> FetchedBody:
        """The body of `url`, or a ConfabError saying why not."""
        ...


@dataclass
class BatchRuntime:
    """The engines one batch runs on, and what to close when it ends."""

    jobs: JobQueue
    fetcher: SourceFetcher
    limits: RenderLimits
    render_timeout: float
    closers: list[Closer] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close in reverse order of creation."""
        await close_all(self.closers)


# Called inside the running event loop (the fetcher's HTTP client belongs to it).
RuntimeFactory = Callable[[Settings], BatchRuntime]
