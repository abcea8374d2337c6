"""Run an ASGI app under uvicorn in the current event loop, with graceful shutdown.

On SIGTERM the node reports itself draining (`/healthz` 503), stops listening, closes
idle HTTP connections, and closes its WebSockets in batches spread over the grace period
(see `confab.node.drain`), then waits for what is still in flight until the grace period
ends. A second SIGTERM or SIGINT cuts that short, as uvicorn's and gunicorn's second
signal does: the WebSockets still open are closed at once (with the same 1012 and a
reconnect delay spread over what was left of the drain, so their clients still come
back at an even rate), requests still running are cancelled, and the node exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import FrameType
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp

from confab.core.clock import Clock, LoopClock
from confab.core.heap import HeapFreezer, freeze_startup_heap
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


# After a second signal: how long the close frames just sent get to be answered (a clean
# close handshake instead of a reset) before the node cancels what runs and exits.
HURRY_LINGER_SECONDS = 0.5


class DrainingServer(uvicorn.Server):
    """Marks the node as draining as soon as SIGTERM/SIGINT arrives; drains in batches.

    A second SIGTERM or SIGINT (uvicorn forces only on a second SIGINT) sets `hurry`:
    the drain closes every WebSocket left at once and the node stops waiting.
    """

    def __init__(
        self, config: uvicorn.Config, state: NodeState, grace: float, websockets: bool
    ) -> None:
        super().__init__(config)
        self._state = state
        self._grace = grace
        self._websockets = websockets
        self._signals = 0
        self.hurry = asyncio.Event()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The first signal drains; any later one hurries (see the class docstring)."""
        self._state.draining = True
        self._signals += 1
        if self._signals > 1:
            self.force_exit = True
            try:
                # A signal handler runs between two bytecodes of the loop's own thread,
                # maybe while the loop waits in select(): call_soon_threadsafe wakes it.
                asyncio.get_running_loop().call_soon_threadsafe(self._hurry_now)
            except RuntimeError:  # no loop running (yet): nobody is waiting on it
                self.hurry.set()
        super().handle_exit(sig, frame)

    def _hurry_now(self) -> None:
        if not self.hurry.is_set():
            log.warning("second signal: closing every connection left now and exiting")
            self.hurry.set()

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
        await drain_websockets(sockets_open, self._grace, hurry=self.hurry)
        await self._wait_in_flight(deadline)
        await self._cancel_tasks()

    async def _wait_in_flight(self, deadline: float) -> None:
        """Until no connection or request is left, the grace period ends, or, once
        hurried, the close handshakes had `HURRY_LINGER_SECONDS`."""
        loop = asyncio.get_running_loop()
        hurried_at: float | None = None
        state = self.server_state
        while state.connections or state.tasks:
            now = loop.time()
            if self.force_exit:
                hurried_at = now if hurried_at is None else hurried_at
                if not state.connections or now >= hurried_at + HURRY_LINGER_SECONDS:
                    return
            elif now >= deadline:
                log.warning(
                    "grace period over: cancelling what is still running",
                    extra={"tasks": len(state.tasks)},
                )
                return
            await asyncio.sleep(0.05)

    async def _cancel_tasks(self) -> None:
        """Cancel the requests and sessions still running, and let them unwind (bounded)."""
        tasks = list(self.server_state.tasks)
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=HURRY_LINGER_SECONDS)


class Drainable(Protocol):
    """A connection the drain can close (`WebSocketProtocol`)."""

    def drain_close(self, code: int, reason: str) -> None:
        """Send a close frame with `code` and `reason`."""


async def drain_websockets(
    connections: Sequence[Drainable],
    grace: float,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    hurry: asyncio.Event | None = None,
) -> None:
    """Close `connections` with 1012 in batches over the grace period (`plan_batches`).

    Each close carries a reconnect delay drawn across the interval between batches, so
    the clients of one batch do not come back in the same instant either. Once `hurry`
    is set, every connection left is closed at once, each with a delay drawn over the
    part of the plan that was still to run: the node goes now, its clients still come
    back spread out.
    """
    batches = plan_batches(len(connections), grace)
    if not batches:
        return
    clock = clock or LoopClock()
    rng = rng or random.Random()
    interval = batch_interval(batches)
    log.info(
        "draining WebSockets",
        extra={"connections": len(connections), "batches": len(batches), "grace": grace},
    )
    started = clock.now()
    queue = list(connections)
    rng.shuffle(queue)  # no client is always among the first closed
    for batch in batches:
        wait = batch.at - (clock.now() - started)
        if wait > 0 and await _hurried_during(clock, wait, hurry):
            left = max(interval, batches[-1].at - (clock.now() - started))
            log.info("drain hurried", extra={"closing": len(queue), "spread": left})
            while queue:
                queue.pop().drain_close(
                    DRAIN_CLOSE_CODE, close_reason(suggested_retry_ms(left, rng))
                )
            return
        for _ in range(batch.count):
            conn = queue.pop()
            conn.drain_close(DRAIN_CLOSE_CODE, close_reason(suggested_retry_ms(interval, rng)))


async def _hurried_during(clock: Clock, seconds: float, hurry: asyncio.Event | None) -> bool:
    """Sleep `seconds` on `clock`; True (at once) when `hurry` is set before they pass."""
    if hurry is None:
        await clock.sleep(seconds)
        return False
    if hurry.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(hurry.wait())
    try:
        await asyncio.wait((sleeper, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, waiter):
            task.cancel()
        await asyncio.gather(sleeper, waiter, return_exceptions=True)
    return hurry.is_set()


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
    server = DrainingServer(config, state, grace_seconds, websockets)
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
    # What the connections add later is frozen after each full collection (see heap.py).
    freezer = HeapFreezer()
    freezer.install()
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
        freezer.uninstall()
        if lag is not None:
            lag.cancel()
            await asyncio.gather(lag, return_exceptions=True)
