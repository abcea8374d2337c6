"""Link previews: fetch a page safely, read its metadata, sign a thumbnail URL of its image.

The page is fetched by the safe fetcher (`want="page"`: an HTML page or an image). Its
metadata is read by `domain.pageparse` in the job queue, not in the event loop: the parser
is pure Python and, even bounded, can spend a fifth of a second on hostile markup, which
would stall every chat connection of this process. The preview image is not fetched
here: its signed thumbnail URL is rendered, through the same safe fetcher, when a browser
first asks for it (the thumbnail route), and cached like any thumbnail.

Results, failures included, are cached per URL for a while (in memory, bounded), and
concurrent requests for one URL share one fetch.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from confab.core.errors import ConfabError
from confab.core.ports import JobQueue
from confab.media.domain.pagemeta import MAX_HEAD_BYTES, PageMeta
from confab.media.domain.urls import media_url, web_source
from confab.media.services.cache import SingleFlight

log = logging.getLogger("confab.media.previews")

#: The job-queue task that parses a page (add to the media task table).
PREVIEW_TASKS: Final = {"media.page_meta": "confab.media.domain.pageparse:parse_page"}
#: Cap on a page fetched for a preview (its own fetcher): pages are small, and a preview
#: needs only the head of one. A linked image larger than this gets no preview.
PAGE_MAX_BYTES: Final = 8 * 1024 * 1024
#: The preview image's thumbnail: a square crop, twice the client's 88 px card.
PREVIEW_IMAGE_OPTIONS: Final = "200x200"
#: Linked images that preview themselves: the web's formats (no PDF, SVG or TIFF pages).
WEB_IMAGE_KINDS: Final = frozenset({"jpeg", "png", "gif", "webp", "avif"})

Clock = Callable[[], float]


class FetchedPage(Protocol):
    """A fetched page or image (`confab.media.fetch.fetcher.Fetched`)."""

    @property
    def url(self) -> str:
        """The final URL, after redirects."""
        ...

    @property
    def data(self) -> bytes: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def kind(self) -> str | None:
        """What the body sniffed as: "html" or an image kind."""
        ...


class PageFetcher(Protocol):
    """The safe fetcher, as previews use it."""

    async def fetch(self, url: str, *, want: Literal["image", "page"] = "image") -> FetchedPage:
        """The body of `url`, or a ConfabError saying why not."""
        ...


@dataclass(frozen=True, slots=True)
class Preview:
    """A link preview: `image` is a signed thumbnail URL (rendered on first request)."""

    url: str
    title: str | None
    description: str | None
    image: str | None


@dataclass(frozen=True, slots=True)
class PreviewConfig:
    """Signing key, cache sizes and lifetimes, and the parse task's limits."""

    security_key: str
    image_options: str = PREVIEW_IMAGE_OPTIONS
    ttl_seconds: float = 15 * 60
    failure_ttl_seconds: float = 2 * 60
    max_entries: int = 2048
    parse_timeout: float = 5.0


class _TimedLRU:
    """Least-recently-used map of URL to preview (or None: it failed), with expiry."""

    def __init__(self, max_entries: int, clock: Clock) -> None:
        self._max = max_entries
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, Preview | None]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Preview | None]:
        """(found, value); an expired entry is not found."""
        item = self._items.get(key)
        if item is None:
            return False, None
        expires, value = item
        if expires <= self._clock():
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, value

    def put(self, key: str, value: Preview | None, ttl: float) -> None:
        self._items[key] = (self._clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class PreviewService:
    """Previews of web pages, as chat messages show them."""

    def __init__(
        self,
        config: PreviewConfig,
        *,
        fetcher: PageFetcher,
        jobs: JobQueue,
        clock: Clock = time.monotonic,
    ) -> None:
        self._config = config
        self._fetcher = fetcher
        self._jobs = jobs
        self._cache = _TimedLRU(config.max_entries, clock)
        self._flights: SingleFlight[Preview | None] = SingleFlight()

    @property
    def cached(self) -> int:
        """URLs in the cache (previews and failures)."""
        return len(self._cache)

    async def preview(self, url: str) -> Preview | None:
        """The preview of `url`, or None when the page fails or says nothing."""
        found, cached = self._cache.get(url)
        if found:
            return cached
        result, _shared = await self._flights.run(url, lambda: self._fresh(url))
        return result

    async def _fresh(self, url: str) -> Preview | None:
        try:
            result = await self._build(url)
        except ConfabError as exc:
            # A refusal or an upstream failure: no preview, and nobody is told.
            log.info("no preview of %s: %s (%s)", url, exc.reason, exc.detail)
            result = None
        except Exception:
            log.warning("no preview of %s: unexpected error", url, exc_info=True)
            result = None
        ttl = self._config.ttl_seconds if result else self._config.failure_ttl_seconds
        self._cache.put(url, result, ttl)
        return result

    async def _build(self, url: str) -> Preview | None:
        page = await self._fetcher.fetch(url, want="page")
        if page.kind in WEB_IMAGE_KINDS:
            # A link straight to an image: the image previews itself.
            return Preview(url=url, title=None, description=None, image=self._image(page.url))
        if page.kind != "html":
            return None
        meta: PageMeta = await self._jobs.call(
            "media.page_meta",
            page.data[:MAX_HEAD_BYTES],
            page.url,
            page.content_type,
            timeout=self._config.parse_timeout,
        )
        if meta.empty:
            return None
        image = None if meta.image is None else self._image(meta.image)
        return Preview(url=url, title=meta.title, description=meta.description, image=image)

    def _image(self, image_url: str) -> str:
        """The signed thumbnail URL of a web image."""
        return media_url(
            self._config.security_key, self._config.image_options, web_source(image_url)
        )
