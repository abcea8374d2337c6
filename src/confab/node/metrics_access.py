"""Who may read `/metrics`: nobody on the public port when it has a port of its own
(`CONFAB_METRICS_PORT`), else only the peers of an allow-list (`CONFAB_METRICS_ALLOW`,
default the loopback). Refused scrapes get the same 404 as a path that does not exist.

The metrics listener is a second uvicorn server in the node's event loop (the collectors
read live objects of the loop, which another thread must not iterate), bound by default
to the loopback; deploy/ binds it to the pod or compose network where Prometheus is.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from confab.core.metrics import Metrics
from confab.node.errors import json_error

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class MetricsGuard:
    """Answers `/metrics` on the public port with 404 unless the peer is allowed."""

    def __init__(self, app: ASGIApp, *, separate_port: bool, allow: Sequence[str]) -> None:
        self.app = app
        self._closed = separate_port
        self._allow: list[Network] = [ipaddress.ip_network(c, strict=False) for c in allow]

    def _allowed(self, scope: Scope) -> bool:
        if self._closed:
            return False
        client = scope.get("client")
        try:
            address = ipaddress.ip_address(client[0]) if client else None
        except ValueError:
            return False
        return address is not None and any(address in net for net in self._allow)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/metrics" and not self._allowed(scope):
            response = json_error(404, "not_found", "Not Found")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves the signals to the node's main server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The main server handles SIGTERM; this one stops when told to."""
        yield


class MetricsListener:
    """`GET /metrics` on a port of its own (or a Unix socket), in this event loop."""

    def __init__(self, metrics: Metrics, sock: socket.socket) -> None:
        async def scrape(request: Request) -> Response:
            return Response(metrics.render_text(), media_type=metrics.content_type)

        app = Starlette(routes=[Route("/metrics", scrape, methods=["GET"])])
        self._sock = sock
        config = uvicorn.Config(
            app, lifespan="off", log_config=None, access_log=False, server_header=False
        )
        self._server = _Listener(config)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def on_port(cls, metrics: Metrics, host: str, port: int) -> MetricsListener:
        """Listening on `host`:`port` (0: any free port, see `port`)."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        return cls(metrics, sock)

    @classmethod
    def on_unix_socket(cls, metrics: Metrics, path: Path) -> MetricsListener:
        """Listening on the Unix socket `path` (one HTTP process of several: the node's
        `/metrics` gathers them, see `confab.node.metrics_gather`)."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by the process this one replaces
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        return cls(metrics, sock)

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        return int(self._sock.getsockname()[1])

    def start(self) -> None:
        """Start serving (call inside the loop). Connections are taken from now on (they
        wait in the backlog until the server's first turn of the loop)."""
        self._sock.listen(128)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self._sock])
        )

    async def aclose(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._sock.close()
