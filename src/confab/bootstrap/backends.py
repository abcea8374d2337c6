"""The engines behind the ports, chosen by URL: blob store, bus and the media job queue.

Engines a URL may or may not name (Redis, Celery) are imported when one does: each costs
megabytes of resident memory in every process that loads it, used or not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from confab.adapters.blobs_fs import FileBlobStore
from confab.adapters.jobs_pool import LocalProcessPool
from confab.adapters.redis_url import is_redis_url
from confab.adapters.worker_memory import MemoryPolicy
from confab.core.errors import InvalidInput
from confab.core.memory import InlineJobQueue, InProcessBus, MemoryBlobStore
from confab.core.metrics import Metrics
from confab.core.ports import BlobStore, Bus, JobQueue
from confab.core.settings import Settings
from confab.media.imaging.tasks import MEDIA_TASKS
from confab.media.services.previews import PREVIEW_TASKS

if TYPE_CHECKING:
    from confab.adapters.bus_redis import RedisBus
    from confab.adapters.jobs_celery_app import CeleryJobsConfig

CELERY_SCHEMES = ("redis", "rediss", "amqp", "amqps")


def media_tasks() -> dict[str, str]:
    """Every task a media job queue runs (renders, probes, page parsing)."""
    return {**MEDIA_TASKS, **PREVIEW_TASKS}


def make_blob_store(url: str) -> BlobStore:
    """The blob store a URL names: `file:///path` or `memory://`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileBlobStore(Path(parsed.path))
    if parsed.scheme == "memory":
        return MemoryBlobStore()
    raise InvalidInput(f"unsupported blobs URL scheme {parsed.scheme!r}", code="bad_setting")


def make_bus(url: str, metrics: Metrics | None = None) -> Bus:
    """The bus a URL names: `memory://` (in-process) or `redis://` / `rediss://` (Redis
    pub/sub; `?prefix=...` sets the key and channel prefix, default `confab:`).

    A Redis bus reports its reconnects and dropped publishes to `metrics`, if given.
    """
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return InProcessBus()
    if is_redis_url(url):
        from confab.adapters.bus_redis import RedisBus

        bus = RedisBus(url)
        if metrics is not None:
            _track_redis_bus(metrics, bus)
        return bus
    raise InvalidInput(f"unsupported bus URL scheme {scheme!r}", code="bad_setting")


def _track_redis_bus(metrics: Metrics, bus: RedisBus) -> None:
    metrics.track_count(
        "confab_bus_reconnects",
        "Times the Redis bus subscriber reconnected",
        lambda: bus.reconnects,
    )
    metrics.track_count(
        "confab_bus_dropped_publishes",
        "Events the Redis bus could not publish (receivers repair from the store)",
        lambda: bus.dropped,
    )


def make_media_jobs(settings: Settings, metrics: Metrics | None = None) -> JobQueue:
    """The job queue that runs media tasks: `local://` (process pool), `redis://` or
    `amqp://` (Celery workers, `confab worker`), or `inline://` (tests)."""
    scheme = urlparse(settings.jobs_url).scheme
    tasks = media_tasks()
    if scheme == "local":
        pool = LocalProcessPool(
            tasks,
            processes=settings.render_processes(),
            recycle_after=settings.media_render_recycle_after,
            initializer="confab.media.imaging.tasks:init_worker",
            initargs=(settings.media_vips_cache_max_ops, tuple(settings.media_extra_loaders)),
            memory=worker_memory_policy(settings),
            metrics=metrics,
        )
        if metrics is not None:
            metrics.track_count(
                "confab_render_workers_retired_for_memory",
                "Render workers retired because their memory stayed high after a task",
                lambda: pool.retired_for_memory,
            )
        return pool
    if scheme == "inline":
        return InlineJobQueue(tasks)
    if scheme in CELERY_SCHEMES:
        # Imported on use: nodes on the local pool never load Celery.
        from confab.adapters.jobs_celery import CeleryJobQueue

        config = celery_jobs_config(settings)
        return CeleryJobQueue(tasks, config=config, blobs=shared_blobs(settings), metrics=metrics)
    raise InvalidInput(f"unsupported jobs URL scheme {scheme!r}", code="bad_setting")


def worker_memory_policy(settings: Settings) -> MemoryPolicy:
    """Each render worker's heap cap and recycling rule, from settings."""
    return MemoryPolicy(limit_bytes=settings.media_render_memory_mib * 1024 * 1024)


def celery_jobs_config(settings: Settings) -> CeleryJobsConfig:
    """Where Celery jobs go, from settings (`CONFAB_JOBS_URL` redis:// or amqp://)."""
    from confab.adapters.jobs_celery_app import CeleryJobsConfig

    return CeleryJobsConfig(
        broker_url=settings.jobs_url,
        result_url=settings.jobs_result_url,
        queue=settings.jobs_queue,
        visibility_timeout=settings.jobs_visibility_timeout_seconds,
        queue_wait=settings.jobs_queue_wait_seconds,
        max_retries=settings.jobs_max_retries,
        recycle_after=settings.media_render_recycle_after,
        memory_limit_bytes=settings.media_render_memory_mib * 1024 * 1024,
    )


def shared_blobs(settings: Settings) -> BlobStore:
    """The blob store callers and Celery workers share (a folder every machine mounts)."""
    url = settings.resolved_blobs_url()
    if urlparse(url).scheme != "file":
        raise InvalidInput(
            "jobs on Celery need a blob store every node and worker sees: "
            "set CONFAB_BLOBS_URL=file:///shared/folder",
            code="bad_setting",
        )
    return make_blob_store(url)
