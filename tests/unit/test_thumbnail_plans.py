"""ThumbnailService.plan: authorization and the memo of plans by path."""

from __future__ import annotations

import pytest

from confab.core.errors import Forbidden, InvalidInput
from confab.core.memory import InlineJobQueue, MemoryBlobStore
from confab.core.metrics import Metrics
from confab.media.domain.signing import sign
from confab.media.imaging.limits import RenderLimits
from confab.media.ports import FetchedSource
from confab.media.services.thumbnails import ThumbnailConfig, ThumbnailService

KEY = "plan-test-key"
PATH = "fit-in/300x200/upload/" + "ab" * 32


class NoFetcher:
    async def fetch(self, url: str, *, want: str = "image") -> FetchedSource:
        raise AssertionError("planning never fetches")


def service(*, auto_format: bool = True, allow_unsafe: bool = False) -> ThumbnailService:
    config = ThumbnailConfig(
        security_key=KEY,
        allow_unsafe=allow_unsafe,
        auto_format=auto_format,
        result_cache=True,
        render_timeout=5.0,
        limits=RenderLimits(),
    )
    return ThumbnailService(
        config,
        blobs=MemoryBlobStore(),
        jobs=InlineJobQueue({}),
        fetcher=NoFetcher(),
        metrics=Metrics(),
    )


def test_a_repeated_path_reuses_its_plan() -> None:
    thumbnails = service()
    first = thumbnails.plan(f"{sign(KEY, PATH)}/{PATH}", None)
    again = thumbnails.plan(f"{sign(KEY, PATH)}/{PATH}", None)
    assert again is first
    assert first.signed and first.key == again.key


def test_refusals_are_never_remembered() -> None:
    thumbnails = service()
    bad = f"{sign('another-key', PATH)}/{PATH}"
    for _ in range(2):
        with pytest.raises(Forbidden) as refused:
            thumbnails.plan(bad, None)
        assert refused.value.reason == "bad_signature"
    for _ in range(2):
        with pytest.raises(Forbidden):
            thumbnails.plan(f"unsafe/{PATH}", None)
    broken = "fit-in/300x200/filters:sepia()/upload/" + "ab" * 32
    for _ in range(2):
        with pytest.raises(InvalidInput):
            thumbnails.plan(f"{sign(KEY, broken)}/{broken}", None)
    # A good signature on the same options after all those refusals is still accepted.
    assert thumbnails.plan(f"{sign(KEY, PATH)}/{PATH}", None).signed


def test_plans_differ_by_the_formats_the_client_accepts() -> None:
    thumbnails = service()
    url = f"{sign(KEY, PATH)}/{PATH}"
    webp = thumbnails.plan(url, "image/webp,*/*")
    plain = thumbnails.plan(url, "*/*")
    assert webp.auto_formats == ("webp",)
    assert plain.auto_formats == ()
    assert webp.key != plain.key
    assert thumbnails.plan(url, "image/webp,image/*").key == webp.key


def test_without_auto_format_accept_does_not_matter() -> None:
    thumbnails = service(auto_format=False, allow_unsafe=True)
    assert thumbnails.plan(f"unsafe/{PATH}", "image/avif").key == (
        thumbnails.plan(f"unsafe/{PATH}", None).key
    )
