"""The composition root: the only module that knows the concrete classes.

It reads settings, builds the adapters behind each port, the services of the roles
this node runs, and the ASGI app that serves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from confab.adapters.blobs_fs import FileBlobStore
from confab.adapters.jobs_pool import LocalProcessPool
from confab.core.errors import InvalidInput
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
from confab.node.app import NodeState, build_app
from confab.node.server import serve_http

if TYPE_CHECKING:
    # The chat role's modules (SQLAlchemy, Alembic, argon2...) are imported when a node
    # runs that role: a media-only node never loads them.
    from confab.adapters.sql.chatstore import SqlChatStore
    from confab.chat.ports import MediaClient

Closer = Callable[[], Awaitable[None]]


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
    """The bus a URL names: `memory://` (in-process)."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return InProcessBus()
    raise InvalidInput(f"unsupported bus URL scheme {scheme!r}", code="bad_setting")


def make_media_jobs(settings: Settings, metrics: Metrics | None = None) -> JobQueue:
    """The job queue that runs media tasks: `local://` (process pool) or `inline://` (tests)."""
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
    raise InvalidInput(f"unsupported jobs URL scheme {scheme!r}", code="bad_setting")


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
    return media_routes(thumbnails, uploads), client


async def open_chat_store(settings: Settings) -> SqlChatStore:
    """The chat database: migrated first if embedded (SQLite), else checked to be current."""
    from confab.adapters.sql.chatstore import SqlChatStore
    from confab.adapters.sql.engine import is_sqlite
    from confab.adapters.sql.migrate import check_schema_current, upgrade_to_head

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


async def _build_chat(
    settings: Settings,
    metrics: Metrics,
    bus: Bus,
    closers: list[Closer],
    media: MediaClient | None = None,
) -> list[BaseRoute]:
    from confab.chat.services import ChatConfig, build_chat_services
    from confab.chat.web.api import api_routes
    from confab.chat.web.client import client_routes
    from confab.chat.web.ws import RealtimeConfig, ws_routes

    store = await open_chat_store(settings)
    closers.append(store.close)
    # media None (chat without media in this process): attachments refused, no previews.
    services = build_chat_services(store, bus, ChatConfig.from_settings(settings), media=media)
    closers.append(services.messages.aclose)
    realtime = ws_routes(services, bus, RealtimeConfig.from_settings(settings), closers, metrics)
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
