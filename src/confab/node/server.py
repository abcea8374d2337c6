"""Run an ASGI app under uvicorn in the current event loop, with graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from confab.node.app import NodeState


class _DrainingServer(uvicorn.Server):
    """Marks the node as draining as soon as SIGTERM/SIGINT arrives."""

    def __init__(self, config: uvicorn.Config, state: NodeState) -> None:
        super().__init__(config)
        self._state = state

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


async def serve_http(
    app: ASGIApp,
    state: NodeState,
    *,
    host: str,
    port: int,
    grace_seconds: float,
    websockets: bool = True,
    trusted_proxies: Sequence[str] = (),
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; then stop accepting and finish in-flight requests.

    `websockets=False` (a node without WebSocket routes): upgrade requests are plain HTTP
    requests (answered 404), and the WebSocket protocol and its library are not loaded.
    `trusted_proxies` (CIDRs): the only peers whose X-Forwarded-For/-Proto count.
    """
    ws: type[asyncio.Protocol] | str = "none"
    if websockets:
        from confab.node.websocket import WebSocketProtocol

        ws = WebSocketProtocol
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    server = _DrainingServer(config, state)
    state.ready = True
    if on_listening is not None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        on_listening(f"http://{shown}:{bound_port}")
    await server.serve(sockets=[sock])
    state.ready = False
