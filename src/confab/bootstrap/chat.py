"""The chat role: its store, shared state, services and routes; its view of media.

Imported only by nodes that run chat: a media-only node never loads SQLAlchemy, Alembic
or argon2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from confab.adapters.redis_url import is_redis_url
from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.engine import Database, is_sqlite
from confab.adapters.sql.migrate import (
    check_schema_current,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from confab.bootstrap.media import media_security_key
from confab.chat.ports import MediaClient
from confab.chat.presence import PresenceStore
from confab.chat.services import ChatConfig, build_chat_services
from confab.chat.web.api import api_routes
from confab.chat.web.client import client_routes
from confab.chat.web.trust_api import trust_routes
from confab.chat.web.ws import RealtimeConfig, ws_routes
from confab.core.lifecycle import Closer, WarmUp
from confab.core.metrics import Metrics
from confab.core.ports import Bus
from confab.core.ratelimit import Buckets, FallbackBuckets, MemoryBuckets, RateLimiter
from confab.core.settings import Settings
from confab.core.tickets import TicketStore
from confab.core.upload_grants import upload_grant_key

if TYPE_CHECKING:
    from confab.adapters.media_http import HttpMediaClient

log = logging.getLogger("confab.bootstrap")


@dataclass
class SharedChatState:
    """Chat state every node must agree on; all None: each process keeps its own."""

    buckets: Buckets | None = None  # the rate limiter's (None: in this process)
    tickets: TicketStore | None = None  # WebSocket tickets
    presence: PresenceStore | None = None


def make_shared_chat_state(settings: Settings, closers: list[Closer]) -> SharedChatState:
    """The rate limiter's buckets, WebSocket tickets and presence: in Redis when the bus
    is there (every node then shares them), else in this process."""
    if not is_redis_url(settings.bus_url):
        return SharedChatState()
    # Imported here: a node on the in-process bus never loads redis-py.
    from confab.adapters.state_redis import RedisBuckets, RedisState
    from confab.adapters.state_redis_presence import RedisPresenceStore
    from confab.adapters.state_redis_tickets import RedisTickets

    state = RedisState(settings.bus_url)
    closers.append(state.close)
    return SharedChatState(
        buckets=RedisBuckets(state),
        tickets=RedisTickets(state),
        presence=RedisPresenceStore(state),
    )


def remote_media(settings: Settings, media_url: str, closers: list[Closer]) -> HttpMediaClient:
    """Chat's media client when media runs on other nodes (`CONFAB_MEDIA_URL`)."""
    if settings.media_security_key is None:
        log.warning(
            "CONFAB_MEDIA_URL is set but CONFAB_MEDIA_SECURITY_KEY is not: requests to media "
            "are signed with this data dir's key, which the media nodes must share"
        )
    # Imported here: only chat nodes without the media role talk to media over HTTP (httpx).
    from confab.adapters.media_http import HttpMediaClient

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


async def open_chat_database(settings: Settings) -> Database:
    """The chat database: migrated first if embedded (SQLite), else checked to be current."""
    url = settings.resolved_database_url()
    if is_sqlite(url):
        await upgrade_to_head(url)
    else:
        # Shared databases are migrated on purpose (`confab migrate`), never by a node.
        await check_schema_current(url)
    return Database(
        url,
        pool_size=settings.database_pool_size,
        synchronous=settings.database_sqlite_synchronous,
    )


async def open_chat_store(settings: Settings) -> SqlChatStore:
    """The chat store on `open_chat_database` (connections open lazily)."""
    return SqlChatStore(await open_chat_database(settings))


async def migrate_database(settings: Settings) -> tuple[str | None, str]:
    """`confab migrate`: apply pending migrations; (revision before, revision now)."""
    url = settings.resolved_database_url()
    before = await current_revision(url)
    await upgrade_to_head(url)
    return before, head_revision()


async def build_chat(
    settings: Settings,
    metrics: Metrics,
    bus: Bus,
    closers: list[Closer],
    media: MediaClient | None = None,
    warm_ups: list[WarmUp] | None = None,
) -> list[BaseRoute]:
    """The chat role's routes; `media` None: attachments refused, no previews.

    What must answer before the node reports ready (its database pool) is appended to
    `warm_ups`.
    """
    database = await open_chat_database(settings)
    store = SqlChatStore(database)
    closers.append(store.close)
    if warm_ups is not None:
        size = settings.database_pool_size
        warm_ups.append(lambda: database.warm(size))
    shared = make_shared_chat_state(settings, closers)
    config = ChatConfig.from_settings(settings)
    # A shared store that fails is stood in for by this process's own buckets for a while.
    buckets: Buckets = MemoryBuckets()
    if shared.buckets is not None:
        buckets = FallbackBuckets(shared.buckets, buckets)
    limiter = RateLimiter(buckets, config.limits())
    # media None (chat without media in this process): attachments refused, no previews.
    services = build_chat_services(
        store, bus, config, media=media, limiter=limiter, tickets=shared.tickets
    )
    closers.append(services.messages.aclose)
    realtime = ws_routes(
        services,
        bus,
        RealtimeConfig.from_settings(settings),
        closers,
        metrics,
        presence=shared.presence,
    )
    trust = trust_routes(
        services,
        grant_key=upload_grant_key(media_security_key(settings)),
        grant_ttl=settings.chat_upload_grant_ttl_seconds,
    )
    return api_routes(services, trust) + realtime + client_routes()
