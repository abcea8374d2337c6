"""The composition root: the only module that knows the concrete classes.

It reads settings, builds the adapters behind each port, the services of the roles
this node runs, and the ASGI app that serves them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from confab.adapters.blobs_fs import FileBlobStore
from confab.adapters.bus_redis import RedisBus
from confab.adapters.jobs_pool import LocalProcessPool
from confab.adapters.media_http import HttpMediaClient
from confab.adapters.redis_common import is_redis_url
from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.engine import is_sqlite
from confab.adapters.sql.migrate import (
    check_schema_current,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from confab.adapters.state_redis import RedisAttemptLimiter, RedisRateLimiter, RedisState
from confab.adapters.state_redis_presence import RedisPresenceStore
from confab.chat.ports import MediaClient
from confab.chat.presence import PresenceStore
from confab.chat.ratelimit import RateLimiter
from confab.chat.services import ChatConfig, build_chat_services
from confab.chat.services.throttle import AttemptLimiter
from confab.chat.web.api import api_routes
from confab.chat.web.client import client_routes
from confab.chat.web.ws import RealtimeConfig, ws_routes
from confab.core.errors import InvalidInput
from confab.core.internal_api import internal_key
from confab.core.logging import configure_logging
from confab.core.malloc import tune_malloc
from confab.core.memory import InlineJobQueue, InProcessBus, MemoryBlobStore
from confab.core.metrics import Metrics
from confab.core.ports import BlobStore, Bus, JobQueue
from confab.core.secrets import load_or_create_secret
from confab.core.settings import Settings
from confab.media.batch.runtime import BatchRuntime
from confab.media.fetch.fetcher import SafeFetcher
from confab.media.fetch.policy import FetchPolicy
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.tasks import MEDIA_TASKS
from confab.media.services.client import InProcessMediaClient
from confab.media.services.previews import (
    PAGE_MAX_BYTES,
    PREVIEW_TASKS,
    PreviewConfig,
    PreviewService,
)
from confab.media.services.thumbnails import ThumbnailConfig, ThumbnailService
from confab.media.services.uploads import UploadService
from confab.media.web import media_routes
from confab.media.web_internal import internal_routes
from confab.node.app import NodeState, build_app
from confab.node.server import serve_http

if TYPE_CHECKING:
    from confab.adapters.jobs_celery_app import CeleryJobsConfig

Closer = Callable[[], Awaitable[None]]
log = logging.getLogger("confab.bootstrap")


@dataclass
class Node:
    """A running node's parts: its app, its readiness, and what to close on shutdown."""

    app: ASGIApp
    state: NodeState
    metrics: Metrics
    settings: Settings
    closers: list[Closer] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close in reverse order of creation (services before the pools they use)."""
        for close in reversed(self.closers):
            await close()
        self.closers.clear()


def make_blob_store(url: str) -> BlobStore:
    """The blob store a URL names: `file:///path` or `memory://`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileBlobStore(Path(parsed.path))
    if parsed.scheme == "memory":
        return MemoryBlobStore()
    raise InvalidInput(f"unsupported blobs URL scheme {parsed.scheme!r}", code="bad_setting")


def make_bus(url: str) -> Bus:
    """The bus a URL names: `memory://` (in-process) or `redis://` / `rediss://` (Redis
    pub/sub; `?prefix=...` sets the key and channel prefix, default `confab:`)."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return InProcessBus()
    if is_redis_url(url):
        return RedisBus(url)
    raise InvalidInput(f"unsupported bus URL scheme {scheme!r}", code="bad_setting")


@dataclass
class SharedChatState:
    """Chat state every node must agree on; all None: each process keeps its own."""

    signin: AttemptLimiter | None = None
    rate: RateLimiter | None = None
    presence: PresenceStore | None = None


def make_shared_chat_state(settings: Settings, closers: list[Closer]) -> SharedChatState:
    """Sign-in throttling, WebSocket rate limits and presence: in Redis when the bus is
    there (every node then shares them), else in this process."""
    if not is_redis_url(settings.bus_url):
        return SharedChatState()
    state = RedisState(settings.bus_url)
    closers.append(state.close)
    return SharedChatState(
        signin=RedisAttemptLimiter(
            state, settings.chat_signin_attempts, settings.chat_signin_window_seconds
        ),
        rate=RedisRateLimiter(state, settings.chat_ws_rate, settings.chat_ws_burst),
        presence=RedisPresenceStore(state),
    )


def make_media_jobs(settings: Settings, metrics: Metrics | None = None) -> JobQueue:
    """The job queue that runs media tasks: `local://` (process pool), `redis://` or
    `amqp://` (Celery workers, `confab worker`), or `inline://` (tests)."""
    scheme = urlparse(settings.jobs_url).scheme
    tasks = {**MEDIA_TASKS, **PREVIEW_TASKS}
    if scheme == "local":
        return LocalProcessPool(
            tasks,
            processes=settings.render_processes(),
            recycle_after=settings.media_render_recycle_after,
            initializer="confab.media.imaging.tasks:init_worker",
            initargs=(settings.media_vips_cache_max_ops, tuple(settings.media_extra_loaders)),
            metrics=metrics,
        )
    if scheme == "inline":
        return InlineJobQueue(tasks)
    if scheme in CELERY_SCHEMES:
        # Imported on use: nodes on the local pool never load Celery.
        from confab.adapters.jobs_celery import CeleryJobQueue

        config = celery_jobs_config(settings)
        return CeleryJobQueue(tasks, config=config, blobs=shared_blobs(settings), metrics=metrics)
    raise InvalidInput(f"unsupported jobs URL scheme {scheme!r}", code="bad_setting")


CELERY_SCHEMES = ("redis", "rediss", "amqp", "amqps")


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


def run_worker(settings: Settings, concurrency: int | None = None) -> int:
    """Run `confab worker`: media jobs from `CONFAB_JOBS_URL` until SIGTERM; the exit code."""
    from confab.adapters import jobs_celery_worker

    if urlparse(settings.jobs_url).scheme not in CELERY_SCHEMES:
        raise InvalidInput(
            f"confab worker needs CONFAB_JOBS_URL=redis://... or amqp://..., "
            f"not {settings.jobs_url!r}",
            code="bad_setting",
        )
    setup = jobs_celery_worker.WorkerSetup(
        tasks={**MEDIA_TASKS, **PREVIEW_TASKS},
        blobs=shared_blobs(settings),
        initializer="confab.media.imaging.tasks:init_worker",
        initargs=(settings.media_vips_cache_max_ops, tuple(settings.media_extra_loaders)),
    )
    return jobs_celery_worker.run_worker(
        celery_jobs_config(settings),
        setup,
        concurrency=concurrency or settings.render_processes(),
        loglevel=settings.log_level,
        configure_logging=lambda: configure_logging(settings.log_level, settings.log_json),
    )


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


def _build_media(
    settings: Settings, metrics: Metrics, blobs: BlobStore, closers: list[Closer]
) -> tuple[list[BaseRoute], InProcessMediaClient]:
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
    thumbnails = ThumbnailService(config, blobs=blobs, jobs=jobs, fetcher=fetcher, metrics=metrics)
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
    return routes + media_routes(thumbnails, uploads), client


def _remote_media(settings: Settings, media_url: str, closers: list[Closer]) -> HttpMediaClient:
    """Chat's media client when media runs on other nodes (`CONFAB_MEDIA_URL`)."""
    if settings.media_security_key is None:
        log.warning(
            "CONFAB_MEDIA_URL is set but CONFAB_MEDIA_SECURITY_KEY is not: requests to media "
            "are signed with this data dir's key, which the media nodes must share"
        )
    client = HttpMediaClient(
        media_url,
        media_security_key(settings),
        connect_timeout=settings.media_client_connect_timeout,
        timeout=settings.media_client_timeout,
        preview_timeout=settings.media_client_preview_timeout,
        retries=settings.media_client_retries,
    )
    closers.append(client.aclose)
    return client


async def open_chat_store(settings: Settings) -> SqlChatStore:
    """The chat database: migrated first if embedded (SQLite), else checked to be current."""
    url = settings.resolved_database_url()
    if is_sqlite(url):
        await upgrade_to_head(url)
    else:
        # Shared databases are migrated on purpose (`confab migrate`), never by a node.
        await check_schema_current(url)
    return SqlChatStore.open(
        url,
        pool_size=settings.database_pool_size,
        synchronous=settings.database_sqlite_synchronous,
    )


async def migrate_database(settings: Settings) -> tuple[str | None, str]:
    """`confab migrate`: apply pending migrations; (revision before, revision now)."""
    url = settings.resolved_database_url()
    before = await current_revision(url)
    await upgrade_to_head(url)
    return before, head_revision()


async def _build_chat(
    settings: Settings,
    metrics: Metrics,
    bus: Bus,
    closers: list[Closer],
    media: MediaClient | None = None,
) -> list[BaseRoute]:
    store = await open_chat_store(settings)
    closers.append(store.close)
    shared = make_shared_chat_state(settings, closers)
    # media None (chat without media in this process): attachments refused, no previews.
    services = build_chat_services(
        store, bus, ChatConfig.from_settings(settings), media=media, limiter=shared.signin
    )
    closers.append(services.messages.aclose)
    realtime = ws_routes(
        services,
        bus,
        RealtimeConfig.from_settings(settings),
        closers,
        metrics,
        limiter=shared.rate,
        presence=shared.presence,
    )
    return api_routes(services) + realtime + client_routes()


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


async def assemble(settings: Settings) -> Node:
    """Build every part of a node for the roles in `settings`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    state = NodeState(roles=tuple(settings.roles))
    routes: list[BaseRoute] = []
    closers: list[Closer] = []
    try:
        blobs = make_blob_store(settings.resolved_blobs_url())
        bus = make_bus(settings.bus_url)
        closers.append(bus.close)
        media: MediaClient | None = None
        if "media" in settings.roles:
            built, media = _build_media(settings, metrics, blobs, closers)
            routes += built
        elif settings.media_url:
            # Chat without media here: reach the media nodes over HTTP.
            media = _remote_media(settings, settings.media_url, closers)
        if "chat" in settings.roles:
            routes += await _build_chat(settings, metrics, bus, closers, media)
    except BaseException:
        # A node that cannot start leaves no worker pool or connection behind.
        for close in reversed(closers):
            await close()
        raise
    app = build_app(routes, state, metrics)
    return Node(app=app, state=state, metrics=metrics, settings=settings, closers=closers)


async def _serve(settings: Settings) -> None:
    node = await assemble(settings)
    try:
        await serve_http(
            node.app,
            node.state,
            host=settings.host,
            port=settings.port,
            grace_seconds=settings.shutdown_grace_seconds,
            on_listening=lambda url: print(
                f"confab: roles {','.join(settings.roles)} listening on {url}"
                f" (data in {settings.data_dir.resolve()})",
                flush=True,
            ),
        )
    finally:
        await node.aclose()


def run_node(settings: Settings) -> int:
    """Run a node until SIGTERM/SIGINT; return the process exit code."""
    # Before any thread starts: two malloc arenas (the event loop's thread and the rest),
    # and large blocks (upload bodies, fetched sources) handed back to the system when freed.
    tune_malloc(arenas=2)
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is absent on Windows only
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(settings))
    return 0
