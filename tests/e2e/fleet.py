"""A real fleet for end-to-end tests, on free local ports.

A fresh database on the machine's PostgreSQL, a private Redis (so a test can restart it),
`confab migrate`, two chat nodes, one media node, one Celery worker and nginx in front,
rendered from `deploy/` with the nodes' ports. Every part is a real process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port, skip_or_fail
from tests.contract.chat_databases import postgres_database
from tests.deploy.nginx import NginxHandle, nginx_binary, running_nginx
from tests.e2e.server import ServerHandle, confab_server

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

# Cheap password hashing and generous per-user limits: the tests are about the fleet.
FLEET_ENV = {
    "CONFAB_CHAT_PASSWORD_TIME_COST": "1",
    "CONFAB_CHAT_PASSWORD_MEMORY_KIB": "1024",
    "CONFAB_CHAT_WS_RATE": "500",
    "CONFAB_CHAT_WS_BURST": "1000",
    "CONFAB_CHAT_PRESENCE_GRACE_SECONDS": "0.3",
    "CONFAB_MEDIA_SECURITY_KEY": "fleet-test-security-key",
    "CONFAB_MEDIA_ALLOW_UNSAFE": "true",
    "CONFAB_LOG_LEVEL": "WARNING",
    "CONFAB_SHUTDOWN_GRACE_SECONDS": "5",
    # A killed worker's job comes back quickly (renders here take well under a second).
    "CONFAB_MEDIA_RENDER_TIMEOUT_SECONDS": "5",
    "CONFAB_JOBS_VISIBILITY_TIMEOUT_SECONDS": "8",
}


def _wait_port(port: int, timeout: float, alive: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive.poll() is not None:
            raise RuntimeError(f"process exited early with {alive.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """A private redis-server on a free port that a test may stop and start again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not Path(REDIS_SERVER).exists():
            skip_or_fail("redis-server is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_port(self.port, 10, self.process)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def restart(self, down_seconds: float = 1.0) -> None:
        """Stop (nothing is kept: a restart loses every subscription), wait, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


@dataclass
class Process:
    """A long-running `confab` process that is not an HTTP node (the worker)."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 of the whole process group (the worker and its pool), as a lost machine."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        _stop(self.process)


def confab_command(*argv: str, env: Mapping[str, str], timeout: float = 120) -> str:
    """Run `confab ARGV` to completion; its output, or a failure with the output."""
    done = subprocess.run(
        [sys.executable, "-m", "confab.cli", *argv],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"confab {' '.join(argv)} failed: {done.stdout}\n{done.stderr}")
    return done.stdout


def start_worker(folder: Path, env: Mapping[str, str], name: str) -> Process:
    """`confab worker` with the fleet's settings (its log in `folder`)."""
    log_path = folder / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "confab.cli", "worker", "--concurrency", "1"],
            # INFO: one line per job, which a test reads to see a job run again.
            env={**os.environ, **env, "CONFAB_LOG_LEVEL": "INFO"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for `kill`
        )
    return Process(process, log_path)


@contextmanager
def sync_postgres_database() -> Iterator[str]:
    """`postgres_database()` for synchronous fixtures: a fresh database's URL, dropped after."""
    loop = asyncio.new_event_loop()
    manager = postgres_database()
    try:
        url = loop.run_until_complete(manager.__aenter__())
        try:
            yield url
        finally:
            loop.run_until_complete(manager.__aexit__(None, None, None))
    finally:
        loop.close()


@dataclass
class Fleet:
    """Handles on every process of the fleet, and the settings they share."""

    root: Path
    env: dict[str, str]
    redis: RedisServer
    chat: list[ServerHandle]
    media: ServerHandle
    nginx: NginxHandle
    workers: list[Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The load balancer: every client goes through it."""
        return self.nginx.url

    def ws_url(self, token: str) -> str:
        return self.url.replace("http://", "ws://") + f"/ws?token={token}"

    def start_worker(self) -> Process:
        worker = start_worker(self.root, self.env, f"worker{len(self.workers)}")
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        """Every process's log, for a failure message."""
        parts = [f"--- {node.url}\n{node.log()[-3000:]}" for node in [*self.chat, self.media]]
        parts += [f"--- worker\n{worker.log()[-3000:]}" for worker in self.workers]
        return "\n".join(parts)


def ws_connections(node: ServerHandle) -> float:
    """The node's open WebSocket count, from its /metrics page."""
    for line in httpx.get(f"{node.url}/metrics", timeout=5).text.splitlines():
        if line.startswith("confab_ws_connections "):
            return float(line.split()[1])
    raise AssertionError("confab_ws_connections is not on /metrics")


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
        redis.start()
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
        fleet = Fleet(root=root, env=env, redis=redis, chat=chat, media=media, nginx=nginx)
        stack.callback(lambda: [worker.stop() for worker in fleet.workers])
        fleet.start_worker()
        yield fleet
