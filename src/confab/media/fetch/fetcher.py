"""The safe fetcher: gets a web source without letting it reach inside or overwhelm us.

How (hops, limits, vetted connections, caps, deadline): `session`. This front counts the
outcomes, and loads the HTTP machinery only when the first fetch comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from confab.core.errors import (
    ConfabError,
    Forbidden,
    InvalidInput,
    TooLarge,
    UnsupportedMedia,
    UpstreamTimeout,
)
from confab.core.metrics import Metrics
from confab.media.fetch.policy import FetchPolicy
from confab.media.fetch.resolver import Resolver, SystemResolver

if TYPE_CHECKING:
    import ssl

    from confab.media.fetch.session import FetchSession

Want = Literal["image", "page"]

# Refusals are our decision about the source; the rest are the upstream's failures.
_REFUSALS: Final = (Forbidden, InvalidInput, TooLarge, UnsupportedMedia)


@dataclass(frozen=True)
class Fetched:
    """A fetched source: the final URL (after redirects), its body and what it really is."""

    url: str
    data: bytes
    content_type: str | None
    kind: str | None


class SafeFetcher:
    """Fetches http(s) sources under a `FetchPolicy`. Share one per process; close it.

    The HTTP machinery (`session`, with httpx and httpcore) is built on the first fetch:
    a node whose requests never name a web source never loads it.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        metrics: Metrics | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._metrics = metrics
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._session: FetchSession | None = None

    async def fetch(self, url: str, *, want: Want = "image") -> Fetched:
        """The body of `url` (following redirects), or a ConfabError saying why not.

        want="image": the body must sniff as an image kind (else source_not_image).
        want="page": an HTML page (kind "html") or an image.
        """
        try:
            fetched = await self._opened().fetch(url, want)
        except ConfabError as exc:
            self._record(exc)
            raise
        self._count("ok")
        return fetched

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.aclose()

    def _opened(self) -> FetchSession:
        if self._session is None:
            from confab.media.fetch.session import FetchSession

            self._session = FetchSession(
                self._policy, self._resolver or SystemResolver(), self._ssl_context
            )
        return self._session

    def _record(self, exc: ConfabError) -> None:
        if isinstance(exc, _REFUSALS):
            if self._metrics is not None:
                self._metrics.fetch_refusals.labels(exc.reason).inc()
            self._count("refused")
        elif isinstance(exc, UpstreamTimeout):
            self._count("timeout")
        else:
            self._count("failed")

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.fetches.labels(outcome).inc()
