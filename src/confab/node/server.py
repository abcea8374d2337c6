"""Run an ASGI app under uvicorn in the current event loop, with graceful shutdown.

On SIGTERM the node reports itself draining (`/healthz` 503), stops listening, closes
idle HTTP connections, and closes its WebSockets in batches spread over the grace period
(see `confab.node.drain`), then waits for what is still in flight until the grace period
ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import FrameType
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp

from confab.core.heap import freeze_startup_heap
from confab.core.metrics import Metrics
from confab.node.app import NodeState
from confab.node.drain import (
    DRAIN_CLOSE_CODE,
    batch_interval,
    close_reason,
    plan_batches,
    suggested_retry_ms,
)
from confab.node.looplag import watch_loop_lag

log = logging.getLogger("confab.node")


class _DrainingServer(uvicorn.Server):
    """Marks the node as draining as soon as SIGTERM/SIGINT arrives; drains in batches."""

    def __init__(
        self, config: uvicorn.Config, state: NodeState, grace: float, websockets: bool
    ) -> None:
        super().__init__(config)
        self._state = state
        self._grace = grace
        self._websockets = websockets

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._state.draining = True
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGINT/SIGTERM to `handle_exit`, and restore the old handlers after.

        uvicorn's own version re-raises the signal once serving stops, which would kill
        the process before the node closes its pools and exits 0 by itself.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        watched = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in watched}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, then close WebSockets in batches and wait for the rest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        sockets_open: list[Drainable] = []
        if self._websockets:
            from confab.node.websocket import open_websockets, stats_for

            stats_for(self.server_state).draining = True
            sockets_open = list(open_websockets(self.server_state))
        # HTTP connections: idle ones close now, busy ones after their response.
        draining = {id(conn) for conn in sockets_open}
        for connection in list(self.server_state.connections):
            if id(connection) not in draining:
                connection.shutdown()
        await drain_websockets(sockets_open, self._grace)
        remaining = max(0.0, deadline - loop.time())
        try:
            async with asyncio.timeout(remaining):
                while self.server_state.connections or self.server_state.tasks:
                    if self.force_exit:
                        break
                    await asyncio.sleep(0.05)
        except TimeoutError:
            log.warning(
                "grace period over: cancelling what is still running",
                extra={"tasks": len(self.server_state.tasks)},
            )
            for task in list(self.server_state.tasks):
                task.cancel()


class Drainable(Protocol):
    """A connection the drain can close (`WebSocketProtocol`)."""

    def drain_close(self, code: int, reason: str) -> None:
        """Send a close frame with `code` and `reason`."""


async def drain_websockets(
    connections: Sequence[Drainable],
    grace: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> None:
    """Close `connections` with 1012 in batches over the grace period (`plan_batches`).

    Each close carries a reconnect delay drawn across the interval between batches, so
    the clients of one batch do not come back in the same instant either.
    """
    batches = plan_batches(len(connections), grace)
    if not batches:
        return
    interval = batch_interval(batches)
    log.info(
        "draining WebSockets",
        extra={"connections": len(connections), "batches": len(batches), "grace": grace},
    )
    started = clock()
    queue = list(connections)
    (rng or random.Random()).shuffle(queue)  # no client is always among the first closed
    for batch in batches:
        wait = batch.at - (clock() - started)
        if wait > 0:
            await sleep(wait)
        for _ in range(batch.count):
            conn = queue.pop()
            conn.drain_close(DRAIN_CLOSE_CODE, close_reason(suggested_retry_ms(interval, rng)))


async def serve_http(
    app: ASGIApp,
    state: NodeState,
    *,
    host: str,
    port: int,
    grace_seconds: float,
    websockets: bool = True,
    reuse_port: bool = False,
    trusted_proxies: Sequence[str] = (),
    on_listening: Callable[[str], None] | None = None,
    metrics: Metrics | None = None,
    warm_up: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; then stop accepting and finish in-flight requests.

    `websockets=False` (a node without WebSocket routes): upgrade requests are plain HTTP
    requests (answered 404), and the WebSocket protocol and its library are not loaded.
    `reuse_port`: listen with SO_REUSEPORT, beside the node's other HTTP processes (the
    kernel spreads new connections over them).
    `trusted_proxies` (CIDRs): the only peers whose X-Forwarded-For/-Proto count.
    """
    ws: type[asyncio.Protocol] | str = "none"
    if websockets:
        from confab.node.websocket import WebSocketProtocol

        ws = WebSocketProtocol
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        http="httptools",
        # Confab's lean WebSocket protocol (~10 KB per idle connection less than uvicorn's);
        # frames up to 1 MiB reach the app, which answers those over its own cap with an
        # error frame instead of a dropped connection.
        ws=ws,
        ws_max_size=1024 * 1024,
        ws_per_message_deflate=False,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(grace_seconds),
        server_header=False,
        # The client address comes from X-Forwarded-For only when the peer is one of these
        # (never uvicorn's default of 127.0.0.1: that is whatever runs on this machine).
        proxy_headers=True,
        forwarded_allow_ips=[str(cidr) for cidr in trusted_proxies],
        backlog=2048,
    )
    server = _DrainingServer(config, state, grace_seconds, websockets)
    if metrics is not None and websockets:
        from confab.node.ws_metrics import register_ws_metrics

        register_ws_metrics(metrics, server.server_state)
    if warm_up is not None:
        # Ready only once the bus and the database answer: under load, a node that took
        # connections before would fail its first requests.
        log.info("waiting for the bus and the database before listening")
        await warm_up()
        log.info("backends up: listening")
    frozen = freeze_startup_heap()
    log.info("start-up heap frozen: %d objects left out of garbage collection", frozen)
    state.ready = True
    if on_listening is not None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        on_listening(f"http://{shown}:{bound_port}")
    lag = None
    if metrics is not None:
        lag = asyncio.get_running_loop().create_task(watch_loop_lag(metrics.loop_lag))
    try:
        await server.serve(sockets=[sock])
    finally:
        state.ready = False
        if lag is not None:
            lag.cancel()
            await asyncio.gather(lag, return_exceptions=True)
