"""A node: the roles its settings name, served over HTTP until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from confab.bootstrap.backends import make_blob_store, make_bus
from confab.bootstrap.media import build_media
from confab.core.lifecycle import Closer, WarmUp, close_all, warm_up_all
from confab.core.malloc import tune_malloc
from confab.core.metrics import Metrics
from confab.core.settings import Settings
from confab.node.app import NodeState, build_app
from confab.node.metrics_access import MetricsGuard, MetricsListener
from confab.node.metrics_gather import gather, socket_path
from confab.node.server import serve_http

if TYPE_CHECKING:
    from confab.chat.ports import MediaClient


@dataclass
class Node:
    """A running node's parts: its app, its readiness, and what to close on shutdown."""

    app: ASGIApp
    state: NodeState
    metrics: Metrics
    settings: Settings
    closers: list[Closer] = field(default_factory=list)
    warm_ups: list[WarmUp] = field(default_factory=list)

    async def warm_up(self) -> None:
        """Until the bus and the database answer (then the node may report ready)."""
        await warm_up_all(self.warm_ups)

    async def aclose(self) -> None:
        """Close in reverse order of creation (services before the pools they use)."""
        await close_all(self.closers)


async def assemble(settings: Settings) -> Node:
    """Build every part of a node for the roles in `settings`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    state = NodeState(roles=tuple(settings.roles))
    routes: list[BaseRoute] = []
    closers: list[Closer] = []
    warm_ups: list[WarmUp] = []
    try:
        blobs = make_blob_store(settings.resolved_blobs_url())
        bus = make_bus(settings.bus_url, metrics)
        closers.append(bus.close)
        bus_up = getattr(bus, "wait_connected", None)  # a networked bus (Redis)
        if bus_up is not None and "chat" in settings.roles:
            warm_ups.append(bus_up)
        media: MediaClient | None = None
        if "media" in settings.roles:
            built, media = build_media(settings, metrics, blobs, closers)
            routes += built
        if "chat" in settings.roles:
            # Imported here: a media-only node never loads the chat role's modules.
            from confab.bootstrap import chat

            if media is None and settings.media_url:
                # Chat without media here: reach the media nodes over HTTP.
                media = chat.remote_media(settings, settings.media_url, closers)
            routes += await chat.build_chat(
                settings, metrics, bus, closers, media, warm_ups=warm_ups
            )
    except BaseException:
        # A node that cannot start leaves no worker pool or connection behind.
        await close_all(closers)
        raise
    app = MetricsGuard(
        build_app(routes, state, metrics, _node_exposition(settings)),
        separate_port=settings.metrics_port is not None,
        allow=settings.metrics_allow,
    )
    return Node(
        app=app,
        state=state,
        metrics=metrics,
        settings=settings,
        closers=closers,
        warm_ups=warm_ups,
    )


def _node_exposition(settings: Settings) -> Callable[[], Awaitable[bytes]] | None:
    """What the public `/metrics` answers in one of several HTTP processes: all of them
    (the supervisor answers on the metrics port, when there is one)."""
    directory = settings.http_metrics_dir
    if directory is None:
        return None

    async def exposition() -> bytes:
        # Blocking reads of the sockets, this process's own among them: off the loop,
        # which serves this process's socket meanwhile.
        return await asyncio.to_thread(gather, directory, settings.http_processes)

    return exposition


def _metrics_listener(settings: Settings, metrics: Metrics) -> MetricsListener | None:
    """This process's own metrics endpoint: a socket for the node's gatherer when it is
    one HTTP process of several, else the metrics port if set."""
    if settings.http_metrics_dir is not None:
        path = socket_path(settings.http_metrics_dir, settings.http_process_slot)
        return MetricsListener.on_unix_socket(metrics, path)
    if settings.metrics_port is not None:
        return MetricsListener.on_port(metrics, settings.metrics_host, settings.metrics_port)
    return None


def _listening(settings: Settings) -> Callable[[str], None]:
    """Say where the node listens; tell the supervisor (if any) that this process does."""

    def announce(url: str) -> None:
        print(
            f"confab: roles {','.join(settings.roles)} listening on {url}"
            f" (data in {settings.data_dir.resolve()})",
            flush=True,
        )
        if settings.http_ready_fd is not None:
            with contextlib.suppress(OSError):  # a supervisor gone: nobody to tell
                os.write(settings.http_ready_fd, b"ready\n")
            with contextlib.suppress(OSError):
                os.close(settings.http_ready_fd)

    return announce


async def _serve(settings: Settings) -> None:
    node = await assemble(settings)
    try:
        listener = _metrics_listener(settings, node.metrics)
        if listener is not None:
            listener.start()
            node.closers.insert(0, listener.aclose)  # closed last: scrapes see the drain
        await serve_http(
            node.app,
            node.state,
            host=settings.host,
            port=settings.port,
            grace_seconds=settings.shutdown_grace_seconds,
            # Only chat speaks WebSocket.
            websockets="chat" in settings.roles,
            reuse_port=settings.http_reuse_port,
            metrics=node.metrics,
            warm_up=node.warm_up,
            trusted_proxies=settings.trusted_proxies,
            on_listening=_listening(settings),
        )
    finally:
        await node.aclose()


def run_node(settings: Settings) -> int:
    """Run a node until SIGTERM/SIGINT; return the process exit code.

    With `http_processes` > 1 this process supervises that many node processes.
    """
    if settings.http_processes > 1 and not settings.http_reuse_port:
        from confab.bootstrap.processes import Supervisor

        return Supervisor(settings).run()
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
