"""Run an ASGI app under uvicorn in the current event loop, with graceful shutdown."""

from __future__ import annotations

import socket
from collections.abc import Callable
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


async def serve_http(
    app: ASGIApp,
    state: NodeState,
    *,
    host: str,
    port: int,
    grace_seconds: float,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; then stop accepting and finish in-flight requests."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        http="httptools",
        ws="auto",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(grace_seconds),
        server_header=False,
        backlog=2048,
    )
    server = _DrainingServer(config, state)
    state.ready = True
    if on_listening is not None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        on_listening(f"http://{shown}:{bound_port}")
    await server.serve(sockets=[sock])
    state.ready = False
