"""The floor under a cache hit: a bare ASGI app on uvicorn that answers each path with bytes
it holds in a dict, served from N processes on one SO_REUSEPORT port.

    python -m bench.media.floor_server --port P --processes N --bodies DIR

DIR holds `manifest.json` ({path: file name}) and the files: the exact bodies Confab
answered for those paths. Every request is a dict lookup and one response, on the same
uvicorn set-up as a Confab node (httptools, uvloop, no access log, no server header), so
its CPU per request is what the cached round cannot go below with Starlette on uvicorn.
`run.py --floor` drives it with wrk like the two servers. Not Confab: never its figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def load_bodies(directory: Path) -> dict[str, bytes]:
    """{path: body} from the manifest in `directory`."""
    manifest = json.loads((directory / "manifest.json").read_text())
    return {path: (directory / name).read_bytes() for path, name in manifest.items()}


def make_app(bodies: dict[str, bytes]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app: 200 and the held body for a known path, 404 otherwise."""
    found = {
        path: [
            (b"content-type", b"image/jpeg"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"public, max-age=31536000"),
        ]
        for path, body in bodies.items()
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        headers = found.get(path)
        if headers is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": bodies[path]})

    return app


def serve_one(port: int, bodies: dict[str, bytes]) -> None:
    """One process: listen with SO_REUSEPORT on `port` and serve until killed."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        make_app(bodies),
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        backlog=2048,
    )
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


def main(argv: list[str] | None = None) -> int:
    """Start `--processes` serving processes (or be one, with `--child`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    bodies = load_bodies(args.bodies)
    if args.child or args.processes == 1:
        serve_one(args.port, bodies)
        return 0
    command = [sys.executable, "-m", "bench.media.floor_server", "--child"]
    command += ["--port", str(args.port), "--bodies", str(args.bodies)]
    children = [subprocess.Popen(command, env=os.environ) for _ in range(args.processes)]
    return max(child.wait() for child in children)


if __name__ == "__main__":
    raise SystemExit(main())
