"""A tiny upstream for testing the nginx config: `python -m tests.deploy.upstream NAME PORT`.

Every HTTP request (any method, any path) is answered with JSON naming this upstream and
echoing what nginx forwarded; `/status/<code>` answers with that status; `--draining` answers
503 to everything, like a Confab node shutting down. `/ws` is a WebSocket that says its name
first, then echoes every text frame.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def build_app(name: str, *, draining: bool) -> Starlette:
    """The upstream's ASGI app."""

    async def anything(request: Request) -> Response:
        body = await request.body()
        status = 503 if draining else 200
        parts = request.url.path.strip("/").split("/")
        if not draining and "status" in parts[:-1]:
            status = int(parts[parts.index("status") + 1])
        payload = {
            "name": name,
            "method": request.method,
            "path": request.url.path,
            "body_bytes": len(body),
            "x_forwarded_for": request.headers.get("x-forwarded-for"),
            "x_forwarded_proto": request.headers.get("x-forwarded-proto"),
            "x_real_ip": request.headers.get("x-real-ip"),
            "host": request.headers.get("host"),
        }
        return Response(json.dumps(payload), status_code=status, media_type="application/json")

    async def echo(websocket: WebSocket) -> None:
        if draining:
            await websocket.close(code=1013)
            return
        await websocket.accept()
        await websocket.send_text(json.dumps({"name": name}))
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            return

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
    return Starlette(
        routes=[
            WebSocketRoute("/ws", echo),
            Route("/{path:path}", anything, methods=methods),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("port", type=int)
    parser.add_argument("--draining", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        build_app(args.name, draining=args.draining),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        lifespan="off",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
