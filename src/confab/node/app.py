"""The ASGI application of a node: role routes plus `/healthz`, `/metrics`, logging."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from confab.core import jsoncodec
from confab.core.errors import ConfabError
from confab.core.metrics import Metrics
from confab.node.errors import handle_confab_error, json_error

log = logging.getLogger("confab.http")


@dataclass
class NodeState:
    """Readiness of the node, as `/healthz` reports it."""

    roles: tuple[str, ...]
    ready: bool = False
    draining: bool = False


def route_label(path: str) -> str:
    """A low-cardinality label for a request path (for metrics)."""
    parts = path.strip("/").split("/")
    head = parts[0]
    if head == "media" and len(parts) > 1 and parts[1] in ("uploads", "meta"):
        return f"media_{parts[1]}"
    if head in ("healthz", "metrics", "media", "api", "ws"):
        return head
    return "other"


class ObservabilityMiddleware:
    """One log line and metrics per HTTP request (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            label = route_label(scope["path"])
            self.metrics.record_request(label, scope["method"], status, elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return json_error(exc.status_code, reason, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", extra={"path": request.url.path})
    return json_error(500, "internal", "unexpected server error")


def build_app(
    routes: Sequence[BaseRoute],
    state: NodeState,
    metrics: Metrics,
    exposition: Callable[[], Awaitable[bytes]] | None = None,
) -> ASGIApp:
    """Assemble the node's ASGI app from the routes of its roles.

    `exposition`: what `/metrics` answers, when it is more than this process's own
    registry (the node's HTTP processes gathered, `confab.node.metrics_gather`).
    """

    async def healthz(request: Request) -> Response:
        ok = state.ready and not state.draining
        status = "ready" if ok else ("draining" if state.draining else "starting")
        body = {"status": status, "roles": list(state.roles)}
        return Response(
            jsoncodec.dumps(body),
            status_code=200 if ok else 503,
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_endpoint(request: Request) -> Response:
        body = metrics.render_text() if exposition is None else await exposition()
        return Response(body, media_type=metrics.content_type)

    app = Starlette(
        routes=[Route("/healthz", healthz), Route("/metrics", metrics_endpoint), *routes],
        exception_handlers={
            ConfabError: handle_confab_error,
            HTTPException: _http_exception,
            Exception: _unexpected,
        },
    )
    return ObservabilityMiddleware(app, metrics)
