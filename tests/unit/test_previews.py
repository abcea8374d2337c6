"""Link previews and the in-process media client (media services, with a fake fetcher)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest

from confab.core.errors import TooLarge, UpstreamFailed, UpstreamTimeout
from confab.core.memory import InlineJobQueue, MemoryBlobStore
from confab.media.domain.grammar import parse_path
from confab.media.domain.options import SourceInfo
from confab.media.domain.signing import verify
from confab.media.domain.urls import media_url, upload_source, web_source
from confab.media.imaging.limits import RenderLimits
from confab.media.services.client import InProcessMediaClient
from confab.media.services.previews import (
    PREVIEW_TASKS,
    Preview,
    PreviewConfig,
    PreviewService,
)
from confab.media.services.uploads import UploadService

KEY = "preview-test-key"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
OG_PAGE = (
    b"<html><head><title>Plain</title>"
    b'<meta property="og:title" content="The &amp; Title">'
    b'<meta property="og:description" content="What it is about">'
    b'<meta property="og:image" content="/img/cover.jpg">'
    b"</head><body>hello</body></html>"
)


@dataclass
class Page:
    url: str
    data: bytes
    content_type: str | None
    kind: str | None


@dataclass
class FakeFetcher:
    """Serves canned answers; a URL missing from `pages` fails like an upstream 404."""

    pages: dict[str, Page | Exception] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    delay: int = 0  # turns of the event loop each fetch lasts

    async def fetch(self, url: str, *, want: Any = "image") -> Page:
        self.calls.append((url, want))
        for _ in range(self.delay):
            await asyncio.sleep(0)
        answer = self.pages.get(url)
        if answer is None:
            raise UpstreamFailed(f"{url} answered HTTP 404", code="upstream_status")
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def html(url: str, body: bytes = OG_PAGE, content_type: str = "text/html") -> Page:
    return Page(url, body, content_type, "html")


def service(fetcher: FakeFetcher, clock: Clock | None = None, **config: Any) -> PreviewService:
    return PreviewService(
        PreviewConfig(security_key=KEY, **config),
        fetcher=fetcher,
        jobs=InlineJobQueue(PREVIEW_TASKS),
        clock=clock or Clock(),
    )


def image_source(signed_url: str) -> tuple[str, str]:
    """(options path, source) of a signed media URL, checking its signature."""
    assert signed_url.startswith("/media/")
    request = parse_path(signed_url.removeprefix("/media/"))
    assert request.signature is not None
    assert verify(KEY, request.signature, request.signed_path)
    return request.signed_path, request.source


# signed URLs


def test_media_urls_parse_back_and_verify() -> None:
    upload = "ab" * 32
    url = media_url(KEY, "fit-in/640x640", upload_source(upload))
    path, source = image_source(url)
    assert source == f"upload/{upload}"
    assert path.startswith("fit-in/640x640/")
    assert parse_path(url.removeprefix("/media/")).options.width == 640
    whole = media_url(KEY, "", upload_source(upload))
    assert image_source(whole)[1] == f"upload/{upload}"
    web = "https://cdn.example/a b/x.jpg?size=large&v=2#frag"
    signed = media_url(KEY, "200x200", web_source(web))
    # No character of the source URL can be read as part of the media URL.
    assert "?" not in signed and "#" not in signed and " " not in signed
    assert image_source(signed)[1] == parse_path(f"unsafe/{web_source(web)}").source
    assert unquote(web_source(web)) == web
    with pytest.raises(ValueError):
        upload_source("not-an-id")


# previews


async def test_a_page_with_opengraph_tags() -> None:
    fetcher = FakeFetcher({"https://a.example/story": html("https://a.example/final/story")})
    preview = await service(fetcher).preview("https://a.example/story")
    assert preview is not None
    assert preview.url == "https://a.example/story"  # as the message wrote it
    assert preview.title == "The & Title"
    assert preview.description == "What it is about"
    assert preview.image is not None
    options, source = image_source(preview.image)
    assert options.startswith("200x200/")
    # Relative to the final URL, after redirects.
    assert source == "https://a.example/img/cover.jpg"
    assert fetcher.calls == [("https://a.example/story", "page")]


async def test_a_link_to_an_image_previews_itself() -> None:
    url = "https://a.example/photo"
    fetcher = FakeFetcher({url: Page("https://cdn.example/p.png", PNG, "image/png", "png")})
    preview = await service(fetcher).preview(url)
    assert preview is not None and preview.title is None and preview.description is None
    assert preview.image is not None
    assert image_source(preview.image)[1] == "https://cdn.example/p.png"


async def test_other_kinds_and_empty_pages_give_no_preview() -> None:
    fetcher = FakeFetcher(
        {
            "https://a.example/doc.pdf": Page("https://a.example/doc.pdf", b"%PDF-", None, "pdf"),
            "https://a.example/empty": html("https://a.example/empty", b"<html><body>x"),
        }
    )
    previews = service(fetcher)
    assert await previews.preview("https://a.example/doc.pdf") is None
    assert await previews.preview("https://a.example/empty") is None


@pytest.mark.parametrize(
    "failure",
    [
        UpstreamFailed("HTTP 500", code="upstream_status"),
        UpstreamTimeout("slow", code="upstream_timeout"),
        TooLarge("big", code="source_too_large"),
        RuntimeError("a bug somewhere"),
    ],
)
async def test_a_failing_page_gives_no_preview_and_no_error(failure: Exception) -> None:
    fetcher = FakeFetcher({"https://a.example/x": failure})
    assert await service(fetcher).preview("https://a.example/x") is None


async def test_results_and_failures_are_cached_for_a_while() -> None:
    clock = Clock()
    good, bad = "https://a.example/good", "https://a.example/bad"
    fetcher = FakeFetcher({good: html(good)})
    previews = service(fetcher, clock, ttl_seconds=60, failure_ttl_seconds=10)
    first = await previews.preview(good)
    assert await previews.preview(good) == first
    assert await previews.preview(bad) is None
    assert await previews.preview(bad) is None
    assert len(fetcher.calls) == 2
    clock.now += 11  # the failure expired, the preview not yet
    assert await previews.preview(good) == first
    assert await previews.preview(bad) is None
    assert len(fetcher.calls) == 3
    clock.now += 60
    await previews.preview(good)
    assert len(fetcher.calls) == 4


async def test_the_cache_is_bounded() -> None:
    urls = [f"https://a.example/{i}" for i in range(10)]
    fetcher = FakeFetcher({u: html(u) for u in urls})
    previews = service(fetcher, max_entries=4)
    for url in urls:
        await previews.preview(url)
    assert previews.cached == 4
    await previews.preview(urls[-1])  # still cached
    assert len(fetcher.calls) == 10
    await previews.preview(urls[0])  # evicted long ago
    assert len(fetcher.calls) == 11


async def test_concurrent_requests_for_one_url_share_one_fetch() -> None:
    url = "https://a.example/popular"
    fetcher = FakeFetcher({url: html(url)}, delay=10)
    previews = service(fetcher)
    results = await asyncio.gather(*(previews.preview(url) for _ in range(20)))
    assert len(fetcher.calls) == 1
    assert all(r == results[0] and r is not None for r in results)


async def test_a_parse_that_runs_too_long_gives_no_preview() -> None:
    url = "https://a.example/slow"

    class SlowJobs:
        async def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
            raise UpstreamTimeout(f"task {task} ran past {timeout}s", code="job_timeout")

        async def close(self) -> None:
            return None

    previews = PreviewService(
        PreviewConfig(security_key=KEY), fetcher=FakeFetcher({url: html(url)}), jobs=SlowJobs()
    )
    assert await previews.preview(url) is None


# the in-process media client (what chat calls)


class ProbeJobs:
    """The renderer's probe, faked: every upload is a 640x480 PNG."""

    async def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        assert task == "media.probe"
        return SourceInfo(width=640, height=480, format="png")

    async def close(self) -> None:
        return None


def client(fetcher: FakeFetcher) -> tuple[InProcessMediaClient, UploadService]:
    uploads = UploadService(
        blobs=MemoryBlobStore(),
        jobs=ProbeJobs(),
        limits=RenderLimits(),
        max_bytes=1 << 20,
        probe_timeout=5,
    )
    return InProcessMediaClient(uploads, service(fetcher), KEY), uploads


async def test_the_client_describes_known_uploads_only() -> None:
    media, uploads = client(FakeFetcher())
    info, _ = await uploads.upload(PNG)
    unknown = "0" * 64
    found = await media.describe_attachments([info.id, unknown, "not-an-id", info.id])
    assert list(found) == [info.id]
    attachment = found[info.id]
    assert (attachment.width, attachment.height) == (640, 480)
    thumb_path, thumb_source = image_source(attachment.thumbnail_url)
    full_path, full_source = image_source(attachment.full_url)
    assert thumb_source == full_source == f"upload/{info.id}"
    assert thumb_path.startswith("fit-in/640x640/") and full_path.startswith("fit-in/2048x2048/")
    assert await media.describe_attachments([]) == {}


async def test_the_client_previews_links_in_order_leaving_failures_out() -> None:
    a, b, c = "https://a.example/1", "https://b.example/2", "https://c.example/3"
    media, _ = client(FakeFetcher({a: html(a), c: html(c)}))
    previews = await media.link_previews([a, b, c])
    assert [p.url for p in previews] == [a, c]
    assert all(isinstance(p, Preview) for p in previews)
    assert await media.link_previews([]) == []
