"""Process helpers shared by the benchmarks and the e2e fleet tests; no pytest in here.

A free port, waiting for a port, stopping a process, a private redis-server, a fresh
PostgreSQL database on the machine's server, and running a `confab` command to completion.
The tests turn the errors raised here (a missing redis-server, an unreachable PostgreSQL)
into a skip, or a failure under CI; the benchmarks print them.
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
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PG_HOST = "127.0.0.1"
PG_PORT = 5432
# Trust auth on the test machine; the first user/database pair that answers is used.
PG_LOGINS = (("postgres", "test"), ("postgres", "postgres"), ("root", "test"))


# argon2 at its lowest cost, for accounts tests and benchmarks create by the hundred
# (the default takes ~50 ms of a core per sign-up or sign-in).
CHEAP_PASSWORD_HASHING = {
    "CONFAB_CHAT_PASSWORD_TIME_COST": "1",
    "CONFAB_CHAT_PASSWORD_MEMORY_KIB": "1024",
}

# Many users registered and signed in from one address (127.0.0.1), each posting freely:
# benchmarks and tests that are not about the limits themselves.
MANY_USERS_ONE_ADDRESS = {
    "CONFAB_CHAT_REGISTER_BURST": "1000000",
    "CONFAB_CHAT_REGISTER_PER_HOUR": "1000000",
    "CONFAB_CHAT_SIGNIN_ADDRESS_ATTEMPTS": "1000000",
    "CONFAB_CHAT_POST_RATE": "100000",
    "CONFAB_CHAT_POST_BURST": "100000",
}


class ServiceMissing(RuntimeError):
    """A service the caller needs is not installed or does not answer."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float, alive: subprocess.Popen[bytes]) -> None:
    """Return once something listens on 127.0.0.1:`port`; raise if `alive` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive.poll() is not None:
            raise RuntimeError(f"process exited early with {alive.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def wait_http_ok(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float,
    log: Callable[[], str],
    name: str = "server",
) -> None:
    """Return once GET `url` answers 200; raise with `log()` if `process` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not ready in {timeout}s:\n{log()}")
        time.sleep(0.05)


def cleanup_on_sigterm() -> None:
    """Let SIGTERM and SIGHUP end a benchmark run as Ctrl-C does, through its `finally`
    blocks, so the servers it started are stopped too.

    The servers run in sessions of their own (a terminal's Ctrl-C must not reach them in
    the middle of a measurement), so Python's default SIGTERM, which exits without
    unwinding, left them running after the runner was killed.
    """

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20
) -> None:
    """Send `sig`, wait up to `timeout` s, then kill."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """A private redis-server on a free port (nothing saved) that may be stopped and started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis://127.0.0.1:<port>, without a database number."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's pid (it must be running)."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start it and wait for its port; ServiceMissing without redis-server."""
        if not Path(REDIS_SERVER).exists():
            raise ServiceMissing("redis-server is not installed")
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
        wait_port(self.port, 10, self.process)

    def stop(self) -> None:
        """Stop it (everything it held is lost)."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def restart(self, down_seconds: float = 1.0) -> None:
        """Stop (nothing is kept: a restart loses every subscription), wait, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()


async def postgres_admin() -> tuple[Any, str]:
    """(asyncpg connection to a maintenance database, user); ServiceMissing if none answers."""
    import asyncpg

    last: Exception | None = None
    for user, database in PG_LOGINS:
        try:
            conn = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=user, database=database, timeout=3
            )
        except (OSError, asyncpg.PostgresError) as error:
            last = error
            continue
        return conn, user
    raise ServiceMissing(f"PostgreSQL unreachable on {PG_HOST}:{PG_PORT}: {last}")


@asynccontextmanager
async def postgres_database(prefix: str = "confab_test") -> AsyncIterator[str]:
    """A new, empty database (dropped afterwards); yields its postgresql:// URL."""
    admin, user = await postgres_admin()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextmanager
def sync_postgres_database(prefix: str = "confab_test") -> Iterator[str]:
    """`postgres_database()` for synchronous callers: a fresh database's URL, dropped after."""
    loop = asyncio.new_event_loop()
    manager = postgres_database(prefix)
    try:
        url = loop.run_until_complete(manager.__aenter__())
        try:
            yield url
        finally:
            loop.run_until_complete(manager.__aexit__(None, None, None))
    finally:
        loop.close()


def confab_command(*argv: str, env: Mapping[str, str], timeout: float = 120) -> str:
    """Run `confab ARGV` to completion; its output, or a RuntimeError with the output."""
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


@dataclass
class Process:
    """A long-running `confab` process that is not an HTTP node (the worker)."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The root pid of its process group."""
        return self.process.pid

    def log(self) -> str:
        """Its log so far."""
        return self.log_path.read_text(errors="replace")

    def jobs_done(self) -> int:
        """Jobs it has logged as finished (a worker logs one line per job at INFO)."""
        return self.log().count('"msg":"job"')

    def kill(self) -> None:
        """kill -9 of the whole process group (the worker and its pool), as a lost machine."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), then kill after 20 s."""
        stop_process(self.process)


def start_worker(
    folder: Path,
    env: Mapping[str, str],
    name: str,
    prefix: Sequence[str] = (),
    args: Sequence[str] = ("--concurrency", "1"),
) -> Process:
    """`confab worker --concurrency 1` (its log in `folder`); `prefix` wraps it (taskset)."""
    log_path = folder / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "confab.cli", "worker", *args],
            # INFO: one line per job, which a test reads to see a job run again.
            env={**os.environ, **env, "CONFAB_LOG_LEVEL": "INFO"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for `kill`
        )
    return Process(process, log_path)
