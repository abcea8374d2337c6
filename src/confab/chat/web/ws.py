"""The `/ws` endpoint: handshake and token check, then one `Session` per connection.

On Confab's server protocol (`confab.node.websocket`) the connection is *detached* once
accepted: frames arrive by callback and the ASGI call returns, so an idle connection holds
no task and none of the app's middleware coroutine frames (about 4 KB each). Under any
other ASGI server the session is fed by the usual receive loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.routing import BaseRoute, WebSocketRoute

from confab.chat.busevent import encode_ephemeral, room_channel
from confab.chat.hub import Hub
from confab.chat.presence import Presence, PresenceStore, TypingThrottle
from confab.chat.protocol import ready_frame
from confab.chat.services import ChatServices
from confab.chat.userfeed import CLOSE_TOO_MANY_CONNECTIONS, UserFeed
from confab.chat.web.connection import AsgiConnection, Connection, DirectConnection
from confab.chat.web.origins import origin_allowed
from confab.chat.web.session import Realtime, Session
from confab.core.clock import Clock
from confab.core.errors import ConfabError
from confab.core.metrics import Metrics
from confab.core.ports import Bus
from confab.core.settings import Settings
from confab.node.websocket import DIRECT_EXTENSION

log = logging.getLogger("confab.chat.ws")

Closer = Callable[[], Awaitable[None]]
CLOSE_POLICY = 1008


@dataclass(frozen=True)
class RealtimeConfig:
    """The WebSocket layer's knobs (see `Settings.chat_ws_*` and `chat_presence_*`)."""

    send_buffer_bytes: int = 64 * 1024
    kernel_send_buffer_bytes: int = 64 * 1024
    strikes: int = 10
    presence_grace: float = 5.0
    large_room: int = 500
    typing_interval: float = 3.0
    max_per_user: int = 20
    allowed_origins: tuple[str, ...] = ()  # empty: the node's own host only

    @classmethod
    def from_settings(cls, settings: Settings) -> RealtimeConfig:
        """The config the settings describe."""
        return cls(
            send_buffer_bytes=settings.chat_ws_send_buffer_bytes,
            kernel_send_buffer_bytes=settings.chat_ws_kernel_send_buffer_bytes,
            strikes=settings.chat_ws_strikes,
            presence_grace=settings.chat_presence_grace_seconds,
            large_room=settings.chat_large_room_members,
            typing_interval=settings.chat_typing_interval_seconds,
            max_per_user=settings.chat_ws_max_per_user,
            allowed_origins=tuple(settings.chat_allowed_origins),
        )


def build_realtime(
    services: ChatServices,
    bus: Bus,
    config: RealtimeConfig,
    *,
    presence: PresenceStore | None = None,
    clock: Clock | None = None,
) -> Realtime:
    """Wire the hub, presence and typing throttle on `bus`; frames are limited by the
    services' rate limiter (action `ws_frame`).

    `presence`: shared by every node (None: this process's own). `clock`: what the
    presence and typing timers run on (None: the event loop's).
    """

    async def publish(room: str, frame: bytes) -> None:
        await bus.publish(room_channel(room), encode_ephemeral("presence", frame))

    return Realtime(
        services=services,
        bus=bus,
        hub=Hub(bus, services.rooms),
        presence=Presence(publish, grace=config.presence_grace, store=presence, clock=clock),
        typing=TypingThrottle(config.typing_interval, clock=clock),
        limiter=services.limiter,
        strikes=config.strikes,
        send_buffer=config.send_buffer_bytes,
        kernel_send_buffer=config.kernel_send_buffer_bytes,
        large_room=config.large_room,
        feed=UserFeed(
            bus,
            max_per_user=config.max_per_user,
            still_valid=services.sessions.valid_token_ids,
        ),
    )


def _ticket(scope: dict[str, Any]) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(query).get("ticket")
    return values[0] if values else ""


class WebSocketEndpoint:
    """The ASGI app behind `/ws`."""

    def __init__(self, rt: Realtime, allowed_origins: tuple[str, ...] = ()) -> None:
        self._rt = rt
        self._origins = allowed_origins

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Authenticate at the handshake, then serve frames until the client goes."""
        if (await receive())["type"] != "websocket.connect":
            return
        rt = self._rt
        if not origin_allowed(scope, self._origins):
            # Another site's page: refused at the handshake (403), before any ticket is spent.
            await send({"type": "websocket.close", "code": CLOSE_POLICY})
            return
        try:
            # A one-time ticket (POST /api/ws-tickets): no session token in any URL or log.
            session_of = await rt.services.sessions.redeem_ticket(_ticket(scope))
        except ConfabError:
            # Before accept: the server answers the handshake with 403, no WebSocket.
            await send({"type": "websocket.close", "code": CLOSE_POLICY})
            return
        user = session_of.user
        await send({"type": "websocket.accept"})
        feed = rt.feed
        if feed is not None and feed.full(user.username):
            await send(
                {
                    "type": "websocket.close",
                    "code": CLOSE_TOO_MANY_CONNECTIONS,
                    "reason": "too many connections for this user",
                }
            )
            return
        # Authenticated: the handshake headers are not needed again, and every idle
        # connection would otherwise keep its own copy (~1 KB).
        scope["headers"] = []
        extensions = scope.get("extensions") or {}
        sock = extensions.get(DIRECT_EXTENSION)
        conn: Connection
        if sock is not None:
            if rt.kernel_send_buffer:
                sock.set_send_buffer(rt.kernel_send_buffer)
            conn = DirectConnection(user.username, sock, rt.send_buffer)
        else:
            conn = AsgiConnection(user.username, send, rt.send_buffer)
        session = Session(rt, user, conn)
        rt.connections += 1
        if feed is not None:
            # Sign-out, revocation or expiry of this session closes the connection (4001).
            await feed.attach(
                user.username, conn, session_of.token_id, session_of.expires_at.timestamp()
            )
        if sock is not None and hasattr(sock, "detach"):
            conn.send(ready_frame(user.username))
            session.attach(sock)
            sock.detach(session)  # the connection now lives on in callbacks
            return
        try:
            conn.send(ready_frame(user.username))
            while True:
                event = await receive()
                kind = event["type"]
                if kind == "websocket.receive":
                    data = event.get("text")
                    await session.handle(data if data is not None else event.get("bytes") or b"")
                elif kind == "websocket.disconnect":
                    break
        finally:
            session.end()


class RealtimeCollector:
    """Prometheus figures read from the live objects at scrape time (no hot-path cost)."""

    def __init__(self, rt: Realtime, allowed_origins: tuple[str, ...] = ()) -> None:
        self._rt = rt
        self._origins = allowed_origins

    def collect(self) -> Iterator[Metric]:
        """The current values."""
        rt = self._rt
        yield GaugeMetricFamily(
            "confab_ws_connections", "Open chat WebSocket connections", value=rt.connections
        )
        yield GaugeMetricFamily(
            "confab_ws_rooms", "Rooms with connections on this node", value=len(rt.hub.rooms())
        )
        yield CounterMetricFamily(
            "confab_ws_deliveries",
            "Frames written to connections by the hub",
            value=rt.hub.delivered,
        )
        yield GaugeMetricFamily(
            "confab_ws_present", "(user, room) pairs present", value=rt.presence.present_count()
        )


def ws_routes(
    services: ChatServices,
    bus: Bus,
    config: RealtimeConfig,
    closers: list[Closer],
    metrics: Metrics | None = None,
    *,
    presence: PresenceStore | None = None,
) -> list[BaseRoute]:
    """The `/ws` route; what must be closed at shutdown is appended to `closers`."""
    rt = build_realtime(services, bus, config, presence=presence)
    closers.append(rt.close)
    if metrics is not None:
        metrics.registry.register(RealtimeCollector(rt))
    return [WebSocketRoute("/ws", WebSocketEndpoint(rt, config.allowed_origins))]
