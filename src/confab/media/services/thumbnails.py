"""Thumbnails: authorize a thumbor URL, serve from the result cache or render once."""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from confab.core.errors import Forbidden, InvalidInput, NotFound, UnsupportedMedia
from confab.core.metrics import Metrics
from confab.core.ports import BlobStore, JobQueue
from confab.media.domain.grammar import parse_path
from confab.media.domain.options import OutputFormat, Rendered, ThumbnailRequest
from confab.media.domain.signing import verify
from confab.media.imaging.limits import RenderLimits
from confab.media.ports import KeyLocks, SourceFetcher
from confab.media.services.cache import ByteLRU, SingleFlight
from confab.media.services.uploads import upload_blob_key

# Bump when rendering changes output, so cached results are not served stale.
RENDERER_VERSION = "2"  # 2: pixel filters, unmerged fill on alpha, TIFF as PNG

# Authorized plans remembered by path (a few hundred bytes each).
PLAN_MEMO_SIZE = 4096

MEDIA_TYPES: dict[str, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "webm": "video/webm",
}


@dataclass(frozen=True, slots=True)
class ThumbnailPlan:
    """An authorized request, before any rendering: enough to answer If-None-Match."""

    request: ThumbnailRequest
    auto_formats: tuple[OutputFormat, ...]
    key: str

    @property
    def etag(self) -> str:
        """Strong validator: the output is a pure function of what the key covers."""
        return f'"{self.key}"'

    @property
    def signed(self) -> bool:
        return self.request.signature is not None

    @property
    def varies_on_accept(self) -> bool:
        return self.request.options.format is None

    @property
    def max_age(self) -> int | None:
        """thumbor's max_age() filter: the response's lifetime in seconds, if given."""
        return self.request.options.max_age


@dataclass(frozen=True, slots=True)
class Thumbnail:
    data: bytes
    media_type: str
    cache_hit: bool


@dataclass(frozen=True, slots=True)
class ThumbnailConfig:
    security_key: str
    allow_unsafe: bool
    auto_format: bool
    result_cache: bool
    render_timeout: float
    limits: RenderLimits
    memory_cache_bytes: int = 64 * 1024 * 1024


def accepted_modern_formats(accept: str | None) -> tuple[OutputFormat, ...]:
    """AVIF and WebP, in that order of preference, as far as `accept` allows them."""
    if not accept:
        return ()
    modern: tuple[OutputFormat, ...] = ("avif", "webp")
    return tuple(fmt for fmt in modern if f"image/{fmt}" in accept)


class ThumbnailService:
    """The thumbnail use case, independent of HTTP."""

    def __init__(
        self,
        config: ThumbnailConfig,
        *,
        blobs: BlobStore,
        jobs: JobQueue,
        fetcher: SourceFetcher,
        metrics: Metrics,
        locks: KeyLocks | None = None,
    ) -> None:
        self._config = config
        # Across the HTTP processes of a node: one renders a key, the others wait for it
        # and read the result cache. None: one process, the in-process flight suffices.
        self._locks = locks
        self._blobs = blobs
        self._jobs = jobs
        self._fetcher = fetcher
        self._metrics = metrics
        self._cache_hits = metrics.cache.labels("hit")
        self._cache_misses = metrics.cache.labels("miss")
        self._hot = ByteLRU(config.memory_cache_bytes)
        self._flights: SingleFlight[tuple[bytes, str, bool]] = SingleFlight()
        # A plan is a pure function of the path, the formats the client accepts and the
        # settings, so repeat requests (the common case behind a result cache) skip the
        # parse, the HMAC check and the key hash. Failures are not cached: they raise.
        self._plans = functools.lru_cache(maxsize=PLAN_MEMO_SIZE)(self._new_plan)

    def plan(self, path: str, accept: str | None) -> ThumbnailPlan:
        """Parse and authorize `path` (the URL after `/media/`)."""
        autos = accepted_modern_formats(accept) if self._config.auto_format else ()
        return self._plans(path, autos)

    def _new_plan(self, path: str, autos: tuple[OutputFormat, ...]) -> ThumbnailPlan:
        request = parse_path(path)
        self._authorize(request)
        options = request.options
        if options.format is not None:
            autos = ()
        identity = "\0".join((RENDERER_VERSION, options.cache_key(), request.source, *autos))
        key = hashlib.sha256(identity.encode()).hexdigest()[:40]
        return ThumbnailPlan(request=request, auto_formats=autos, key=key)

    def _authorize(self, request: ThumbnailRequest) -> None:
        if request.signature is None:
            if not self._config.allow_unsafe:
                raise Forbidden(
                    "unsigned (unsafe) URLs are disabled; sign the URL", code="unsafe_disabled"
                )
            return
        if not verify(self._config.security_key, request.signature, request.signed_path):
            raise Forbidden("the URL signature does not match", code="bad_signature")

    async def produce(self, plan: ThumbnailPlan) -> Thumbnail:
        """The thumbnail for an authorized plan: from cache, or rendered exactly once."""
        hot = self._hot.get(plan.key)
        if hot is not None:
            self._cache_hits.inc()
            return Thumbnail(hot[0], MEDIA_TYPES[hot[1]], cache_hit=True)
        blob_key = f"thumbs/{plan.key[:2]}/{plan.key}"
        if self._config.result_cache:
            stored = _split_blob(await self._blobs.get(blob_key))
            if stored is not None:
                data, fmt = stored
                self._cache_hits.inc()
                self._hot.put(plan.key, data, fmt)
                return Thumbnail(data, MEDIA_TYPES[fmt], cache_hit=True)
            self._cache_misses.inc()
        (data, fmt, hit), _shared = await self._flights.run(
            plan.key, lambda: self._render_once(plan, blob_key)
        )
        return Thumbnail(data, MEDIA_TYPES[fmt], cache_hit=hit)

    async def _render_once(self, plan: ThumbnailPlan, blob_key: str) -> tuple[bytes, str, bool]:
        """(data, format, from_cache): rendered here, or by another process of the node
        that held the key's lock first (its result is then in the result cache)."""
        if self._locks is None or not self._config.result_cache:
            rendered = await self._render(plan, blob_key)
            return rendered.data, rendered.format, False
        async with self._locks.hold(plan.key):
            stored = _split_blob(await self._blobs.get(blob_key))
            if stored is not None:
                self._hot.put(plan.key, *stored)
                return stored[0], stored[1], True
            rendered = await self._render(plan, blob_key)
            return rendered.data, rendered.format, False

    async def _render(self, plan: ThumbnailPlan, blob_key: str) -> Rendered:
        started = time.perf_counter()
        outcome = "ok"
        try:
            source = await self._source(plan.request.source)
            overlays = await self._overlays(plan.request)
            rendered: Rendered = await self._jobs.call(
                "media.render",
                source,
                plan.request.options,
                plan.auto_formats,
                self._config.limits,
                overlays,
                timeout=self._config.render_timeout,
            )
        except Exception as exc:
            outcome = getattr(exc, "reason", "error")
            raise
        finally:
            self._metrics.renders.labels(outcome).inc()
            self._metrics.render_seconds.observe(time.perf_counter() - started)
        if self._config.result_cache:
            # The format travels as a one-line header so a cache hit needs no decode.
            await self._blobs.put(blob_key, _blob_with_format(rendered))
            self._hot.put(plan.key, rendered.data, rendered.format)
        return rendered

    async def _overlays(self, request: ThumbnailRequest) -> dict[str, bytes] | None:
        """The images the filters draw (watermark, frame), fetched like sources.

        They pass the same fetcher (SSRF rules, byte cap, image sniffing) as the source;
        the renderer decodes them under the same loader policy and pixel cap.
        """
        if not request.overlays:
            return None
        fetched: dict[str, bytes] = {}
        for url in request.overlays:
            if url not in fetched:
                fetched[url] = await self._source_bytes(url)
        return fetched

    async def _source_bytes(self, source: str) -> bytes:
        """The bytes of an upload or web source (small ones: watermarks, frames)."""
        if source.startswith("upload/"):
            data = await self._blobs.get(upload_blob_key(source.removeprefix("upload/")))
            if data is None:
                raise NotFound(f"no upload {source}", code="source_not_found")
            return data
        source_data = await self._source(source)
        assert isinstance(source_data, bytes)  # web sources arrive as bytes
        return source_data

    async def _source(self, source: str) -> str | bytes:
        """A local path or the bytes of the source.

        A fetched body that is not an image is a 400, as thumbor answers it.
        """
        if source.startswith("upload/"):
            key = upload_blob_key(source.removeprefix("upload/"))
            path = self._blobs.local_path(key)
            if path is not None:
                if not path.is_file():
                    raise NotFound(f"no upload {source}", code="source_not_found")
                return str(path)
            data = await self._blobs.get(key)
            if data is None:
                raise NotFound(f"no upload {source}", code="source_not_found")
            return data
        try:
            fetched = await self._fetcher.fetch(source, want="image")
        except UnsupportedMedia as exc:
            if exc.reason == "source_not_image":
                raise InvalidInput(exc.detail, code="source_not_image") from None
            raise
        return fetched.data

    async def meta(self, path: str) -> dict[str, Any]:
        """thumbor's /meta: the source size, the operations planned and the output size."""
        request = parse_path(path)
        self._authorize(request)
        return await self.describe(request)

    async def describe(self, request: ThumbnailRequest) -> dict[str, Any]:
        """/meta of an authorized request (also what a `meta/` URL answers)."""
        source = await self._source(request.source)
        plan: dict[str, Any] = await self._jobs.call(
            "media.plan",
            source,
            request.options,
            self._config.limits,
            timeout=self._config.render_timeout,
        )
        plan["thumbor"]["source"]["url"] = request.source
        return plan


def _blob_with_format(rendered: Rendered) -> bytes:
    return rendered.format.encode() + b"\n" + rendered.data


def _split_blob(blob: bytes | None) -> tuple[bytes, str] | None:
    """(data, format) of a cached blob; None when absent or unreadable (a miss)."""
    if blob is None:
        return None
    head, sep, data = blob.partition(b"\n")
    fmt = head.decode("ascii", "replace")
    if not sep or fmt not in MEDIA_TYPES:
        return None
    return data, fmt
