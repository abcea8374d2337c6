"""The media role: its services and routes, and the batch runtime of `confab thumbs`."""

from __future__ import annotations

from dataclasses import replace

from starlette.routing import BaseRoute

from confab.adapters.locks_file import FileKeyLocks
from confab.bootstrap.backends import make_media_jobs
from confab.bootstrap.limits import make_buckets
from confab.core.internal_api import internal_key
from confab.core.lifecycle import Closer
from confab.core.metrics import Metrics
from confab.core.ports import BlobStore
from confab.core.ratelimit import RateLimiter
from confab.core.secrets import load_or_create_secret
from confab.core.settings import Settings
from confab.core.upload_grants import upload_grant_key
from confab.media.batch.runtime import BatchRuntime
from confab.media.fetch.fetcher import SafeFetcher
from confab.media.fetch.policy import FetchPolicy
from confab.media.imaging.limits import RenderLimits
from confab.media.services.client import InProcessMediaClient
from confab.media.services.previews import PAGE_MAX_BYTES, PreviewConfig, PreviewService
from confab.media.services.thumbnails import ThumbnailConfig, ThumbnailService
from confab.media.services.upload_gate import UploadGate, UploadLimits
from confab.media.services.uploads import UploadService
from confab.media.web import media_routes
from confab.media.web_internal import internal_routes


def render_limits(settings: Settings) -> RenderLimits:
    """The renderer's caps, from settings."""
    return RenderLimits(
        max_pixels=settings.media_max_pixels,
        max_frames=settings.media_max_frames,
        max_output_side=settings.media_max_output_side,
        extra_loaders=tuple(settings.media_extra_loaders),
    )


def media_security_key(settings: Settings) -> str:
    """thumbor's SECURITY_KEY: the setting, or the one generated in the data dir."""
    if settings.media_security_key is not None:
        return settings.media_security_key.get_secret_value()
    return load_or_create_secret(settings.data_dir, "media_security_key")


def grant_key(settings: Settings) -> bytes | None:
    """The upload-grant key: derived from the media security key when a chat node can
    share it (it is set, or chat runs in this process); else None (uploads refused)."""
    if settings.media_security_key is None and "chat" not in settings.roles:
        return None
    return upload_grant_key(media_security_key(settings))


def upload_limits(settings: Settings) -> UploadLimits:
    """Each user's upload rate and byte quota, from settings."""
    return UploadLimits(
        per_minute=settings.media_upload_per_minute,
        burst=settings.media_upload_burst,
        bytes_per_day=settings.media_upload_quota_bytes,
    )


def build_media(
    settings: Settings, metrics: Metrics, blobs: BlobStore, closers: list[Closer]
) -> tuple[list[BaseRoute], InProcessMediaClient]:
    """The media role's routes, and its in-process client for chat in the same node."""
    jobs = make_media_jobs(settings, metrics)
    closers.append(jobs.close)
    fetcher = SafeFetcher(FetchPolicy.from_settings(settings), metrics=metrics)
    closers.append(fetcher.aclose)
    limits = render_limits(settings)
    config = ThumbnailConfig(
        security_key=media_security_key(settings),
        allow_unsafe=settings.media_allow_unsafe,
        auto_format=settings.media_auto_format,
        result_cache=settings.media_result_cache,
        render_timeout=settings.media_render_timeout_seconds,
        limits=limits,
    )
    # Several HTTP processes share the result cache; lock files in the data dir make one
    # of them render a key while the others wait for its result.
    locks = FileKeyLocks(settings.data_dir / "locks" / "thumbs")
    thumbnails = ThumbnailService(
        config,
        blobs=blobs,
        jobs=jobs,
        fetcher=fetcher,
        metrics=metrics,
        locks=locks if settings.http_processes > 1 else None,
    )
    uploads = UploadService(
        blobs=blobs,
        jobs=jobs,
        limits=limits,
        max_bytes=settings.media_max_source_bytes,
        probe_timeout=settings.media_render_timeout_seconds,
    )
    # Pages for previews get a fetcher of their own, with a smaller byte cap.
    policy = FetchPolicy.from_settings(settings)
    page_fetcher = SafeFetcher(
        replace(policy, max_bytes=min(policy.max_bytes, PAGE_MAX_BYTES)), metrics=metrics
    )
    closers.append(page_fetcher.aclose)
    previews = PreviewService(
        PreviewConfig(security_key=config.security_key), fetcher=page_fetcher, jobs=jobs
    )
    client = InProcessMediaClient(uploads, previews, config.security_key)
    # The internal routes first: `/media/{path}` would otherwise claim their paths.
    routes = internal_routes(client, internal_key(config.security_key))
    per_user = upload_limits(settings).limits()
    gate = UploadGate(grant_key(settings), RateLimiter(make_buckets(settings, closers), per_user))
    return routes + media_routes(thumbnails, uploads, gate), client


def build_batch_runtime(settings: Settings) -> BatchRuntime:
    """The process pool and safe fetcher `confab thumbs` runs on (call it inside the loop)."""
    jobs = make_media_jobs(settings)
    fetcher = SafeFetcher(FetchPolicy.from_settings(settings))
    return BatchRuntime(
        jobs=jobs,
        fetcher=fetcher,
        limits=render_limits(settings),
        render_timeout=settings.media_render_timeout_seconds,
        closers=[jobs.close, fetcher.aclose],
    )
