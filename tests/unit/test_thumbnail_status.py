"""The errors a thumbnail request answers with, as thumbor's handlers give them (issue 12):
an origin that has no image is a 404, a source that is not an image a 400; and the
images filters draw (watermark, frame) are fetched like sources."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from confab.core.errors import ConfabError, InvalidInput, NotFound, UnsupportedMedia
from confab.core.memory import InlineJobQueue, MemoryBlobStore
from confab.core.metrics import Metrics
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.tasks import MEDIA_TASKS
from confab.media.ports import FetchedSource
from confab.media.services.thumbnails import ThumbnailConfig, ThumbnailService
from tests.e2e.sources import jpeg, png


@dataclass
class Fetched:
    url: str
    data: bytes


class ScriptedFetcher:
    """Answers each URL with bytes or an error; records what was asked."""

    def __init__(self, answers: dict[str, bytes | ConfabError]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def fetch(self, url: str, *, want: str = "image") -> FetchedSource:
        self.asked.append(url)
        answer = self.answers[url]
        if isinstance(answer, ConfabError):
            raise answer
        return Fetched(url, answer)


def service(fetcher: ScriptedFetcher) -> ThumbnailService:
    config = ThumbnailConfig(
        security_key="k",
        allow_unsafe=True,
        auto_format=False,
        result_cache=False,
        render_timeout=30.0,
        limits=RenderLimits(),
    )
    return ThumbnailService(
        config,
        blobs=MemoryBlobStore(),
        jobs=InlineJobQueue(MEDIA_TASKS),
        fetcher=fetcher,
        metrics=Metrics(),
    )


async def produce(thumbnails: ThumbnailService, path: str) -> bytes:
    return (await thumbnails.produce(thumbnails.plan(path, None))).data


async def test_origin_without_the_image_is_not_found() -> None:
    fetcher = ScriptedFetcher(
        {"http://a.example/x.jpg": NotFound("HTTP 404", code="source_not_found")}
    )
    with pytest.raises(NotFound) as caught:
        await produce(service(fetcher), "unsafe/100x100/a.example/x.jpg")
    assert caught.value.reason == "source_not_found"


async def test_a_source_that_is_not_an_image_is_invalid_input() -> None:
    not_image = UnsupportedMedia("text/html is not an image", code="source_not_image")
    fetcher = ScriptedFetcher({"http://a.example/page": not_image})
    with pytest.raises(InvalidInput) as caught:
        await produce(service(fetcher), "unsafe/100x100/a.example/page")
    assert caught.value.reason == "source_not_image"
    assert "not an image" in caught.value.detail


async def test_watermark_image_is_fetched_like_a_source_once() -> None:
    fetcher = ScriptedFetcher(
        {"http://a.example/x.jpg": jpeg(200, 150), "http://a.example/w.png": png()}
    )
    path = (
        "unsafe/100x75/filters:watermark(a.example/w.png,0,0,0):"
        "watermark(a.example/w.png,-1,-1,50)/a.example/x.jpg"
    )
    assert await produce(service(fetcher), path)
    assert sorted(fetcher.asked) == ["http://a.example/w.png", "http://a.example/x.jpg"]


async def test_a_missing_watermark_is_not_found() -> None:
    fetcher = ScriptedFetcher(
        {
            "http://a.example/x.jpg": jpeg(200, 150),
            "http://a.example/w.png": NotFound("HTTP 404", code="source_not_found"),
        }
    )
    with pytest.raises(NotFound):
        await produce(
            service(fetcher), "unsafe/filters:watermark(a.example/w.png,0,0,0)/a.example/x.jpg"
        )
