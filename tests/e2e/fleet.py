"""A real fleet for end-to-end tests, on free local ports.

A fresh database on the machine's PostgreSQL, a private Redis (so a test can restart it),
`confab migrate`, two chat nodes, one media node, one Celery worker and nginx in front,
rendered from `deploy/` with the nodes' ports. Every part is a real process.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench.procs import (
    CHEAP_PASSWORD_HASHING,
    MANY_USERS_ONE_ADDRESS,
    Process,
    RedisServer,
    ServiceMissing,
    confab_command,
    start_worker,
    sync_postgres_database,
)

from tests.conftest import skip_or_fail
from tests.deploy.nginx import NginxHandle, nginx_binary, running_nginx
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.tickets import ws_url

# Cheap password hashing and generous per-user limits: the tests are about the fleet.
FLEET_ENV = {
    **CHEAP_PASSWORD_HASHING,
    **MANY_USERS_ONE_ADDRESS,
    "CONFAB_CHAT_WS_RATE": "500",
    "CONFAB_CHAT_WS_BURST": "1000",
    "CONFAB_CHAT_PRESENCE_GRACE_SECONDS": "0.3",
    "CONFAB_MEDIA_SECURITY_KEY": "fleet-test-security-key",
    "CONFAB_MEDIA_ALLOW_UNSAFE": "true",
    "CONFAB_LOG_LEVEL": "WARNING",
    # Short, so the drain test stays quick; the drain spreads closes over 70% of it.
    "CONFAB_SHUTDOWN_GRACE_SECONDS": "4",
    # nginx runs on this machine: its X-Forwarded-For names the client.
    "CONFAB_TRUSTED_PROXIES": "127.0.0.1/32",
    # A killed worker's job comes back quickly (renders here take well under a second).
    "CONFAB_MEDIA_RENDER_TIMEOUT_SECONDS": "5",
    "CONFAB_JOBS_VISIBILITY_TIMEOUT_SECONDS": "8",
}


@dataclass
class Fleet:
    """Handles on every process of the fleet, and the settings they share."""

    root: Path
    env: dict[str, str]
    redis: RedisServer
    chat: list[ServerHandle]
    media: ServerHandle
    nginx: NginxHandle
    stack: ExitStack
    workers: list[Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The load balancer: every client goes through it."""
        return self.nginx.url

    def ws_url(self, token: str) -> Callable[[], Awaitable[str]]:
        """Makes a `/ws` URL with a fresh ticket, through the load balancer, per connect."""
        return functools.partial(ws_url, self.url, token)

    def start_worker(self, *args: str) -> Process:
        """One more `confab worker` (default `--concurrency 1`)."""
        extra = args or ("--concurrency", "1")
        worker = start_worker(self.root, self.env, f"worker{len(self.workers)}", args=extra)
        self.workers.append(worker)
        return worker

    def add_chat_node(self) -> ServerHandle:
        """Start one more chat node; once it is ready, nginx sends it new connections."""
        name = f"chat{len(self.chat)}"
        node = self.stack.enter_context(
            confab_server(self.root / name, "--roles", "chat", command="serve", env=self.env)
        )
        self.chat.append(node)
        self.route_to_live_nodes()
        return node

    def route_to_live_nodes(self) -> None:
        """Reload nginx with the chat nodes still running (what a deploy tool does)."""
        live = [_address(node) for node in self.chat if node.alive()]
        self.nginx.reload(live, [_address(self.media)])

    def logs(self) -> str:
        """Every process's log, for a failure message."""
        parts = [f"--- {node.url}\n{node.log()[-3000:]}" for node in [*self.chat, self.media]]
        parts += [f"--- worker\n{worker.log()[-3000:]}" for worker in self.workers]
        return "\n".join(parts)


async def exited(process: subprocess.Popen[bytes], timeout: float) -> int:
    """`process`'s exit code once it exits, waited for off the event loop.

    The test's own clients live on that loop: a blocking `wait()` would stop them from
    answering a draining node's close frames, so the node would wait out its whole grace
    period and every close would seem to land at its end.
    """
    return await asyncio.to_thread(process.wait, timeout)


def node_metric(node: ServerHandle, name: str) -> float:
    """An unlabelled sample of the node's /metrics page."""
    for line in httpx.get(f"{node.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not on /metrics")


def ws_connections(node: ServerHandle) -> float:
    """The node's open WebSocket count."""
    return node_metric(node, "confab_ws_connections")


def _address(node: ServerHandle) -> str:
    return node.url.removeprefix("http://")


@contextmanager
def run_fleet(root: Path, *, chat_nodes: int = 2) -> Iterator[Fleet]:
    """Start the whole fleet under `root`; stop everything at the end of the block."""
    if nginx_binary() is None:
        skip_or_fail("nginx is not installed (.ci/run installs Debian's nginx)")
    with ExitStack() as stack:
        database = stack.enter_context(sync_postgres_database())
        redis = RedisServer(root / "redis")
        try:
            redis.start()
        except ServiceMissing as missing:
            skip_or_fail(str(missing))
        stack.callback(redis.stop)
        blobs = root / "blobs"
        blobs.mkdir(parents=True)
        env = {
            **FLEET_ENV,
            "CONFAB_DATABASE_URL": database.replace("postgresql://", "postgresql+asyncpg://"),
            "CONFAB_BUS_URL": f"{redis.url}/0",
            "CONFAB_JOBS_URL": f"{redis.url}/1",
            "CONFAB_BLOBS_URL": blobs.as_uri(),
        }
        confab_command("migrate", env=env)
        media = stack.enter_context(
            confab_server(root / "media", "--roles", "media", command="serve", env=env)
        )
        env["CONFAB_MEDIA_URL"] = media.url
        chat = [
            stack.enter_context(
                confab_server(root / f"chat{i}", "--roles", "chat", command="serve", env=env)
            )
            for i in range(chat_nodes)
        ]
        nginx = stack.enter_context(
            running_nginx([_address(c) for c in chat], [_address(media)], fail_timeout="30s")
        )
        fleet = Fleet(
            root=root, env=env, redis=redis, chat=chat, media=media, nginx=nginx, stack=stack
        )
        stack.callback(lambda: [worker.stop() for worker in fleet.workers])
        fleet.start_worker()
        yield fleet
