"""Redis for tests: the shared server (under a unique key prefix), or a private one.

The shared server is never flushed or restarted: tests keep to their own prefix. A test
that stops Redis starts its own `redis-server` on a free port (`private_redis`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.asyncio import Redis

from confab.adapters.redis_url import parse_redis_url
from tests.conftest import free_port, skip_or_fail
from tests.polling import wait_until

SHARED_HOST = "127.0.0.1"
SHARED_PORT = 6379


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def unique_prefix() -> str:
    """A key prefix no other test uses."""
    return f"confab-test-{uuid.uuid4().hex[:12]}:"


async def delete_prefix(url: str) -> None:
    """Delete every key under the URL's prefix (a test's own keys on the shared server)."""
    target = parse_redis_url(url)
    client = Redis.from_url(target.url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{target.prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def shared_redis_url(db: int = 0) -> str:
    """The shared server's URL with a fresh key prefix (skips when it is absent)."""
    if not _answers(SHARED_HOST, SHARED_PORT):
        skip_or_fail(f"Redis unreachable on {SHARED_HOST}:{SHARED_PORT}")
    return f"redis://{SHARED_HOST}:{SHARED_PORT}/{db}?prefix={unique_prefix()}"


class PrivateRedis:
    """A `redis-server` of this test alone, that can be killed and started again."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, prefix: str | None = None) -> str:
        """Its URL (with a key prefix)."""
        return f"redis://127.0.0.1:{self.port}/0?prefix={prefix or unique_prefix()}"

    def start(self) -> None:
        """Start it on its port and wait until it answers."""
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self._process

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"private redis-server did not start on {self.port}")
            return _answers("127.0.0.1", self.port)

        wait_until(up, 10, f"private redis-server on {self.port}")

    def pid(self) -> int:
        """The running server's process id."""
        assert self._process is not None, "not running"
        return self._process.pid

    def kill(self) -> None:
        """SIGKILL it (its data is gone: nothing is saved)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._process = None


@contextmanager
def private_redis(workdir: Path) -> Iterator[PrivateRedis]:
    """A private `redis-server` on a free port, killed at the end."""
    if shutil.which("redis-server") is None and not Path("/usr/bin/redis-server").exists():
        skip_or_fail("redis-server is not installed")
    server = PrivateRedis(workdir, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()
