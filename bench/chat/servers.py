"""The servers under test, each its own process group, pinned to one core, same fd limit.

- Confab: `confab up` on a copy of a seeded data dir (users, tokens, the room, memberships
  made once per run through the HTTP API, see `seed_confab`).
- python-socketio: `bench/chat/peer_socketio.py` (AsyncServer, ASGI, uvicorn, uvloop).
- websockets: `bench/chat/peer_websockets.py` (bare server, `websockets.broadcast`).

Process handling (start, readiness wait, SIGTERM then SIGKILL of the group, log tail) is
bench/media's `Server`; the command is wrapped in `taskset` (pin), which execs, so the pid
is the server's own. The fd limit is inherited: run.py raises its soft limit to the hard one
first, so every server gets the same.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import httpx
from bench.media.servers import Server
from bench.procs import CHEAP_PASSWORD_HASHING, MANY_USERS_ONE_ADDRESS

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "bench-password-0"  # a throwaway account on a throwaway server


def usernames(count: int) -> list[str]:
    """The bench's user names: bench00000, bench00001, ..."""
    return [f"bench{i:05d}" for i in range(count)]


def wrap(command: list[str], core: int | None, nice: int = 0) -> list[str]:
    """`command` pinned to `core` (when given and taskset exists), at niceness `nice`."""
    prefix: list[str] = []
    if core is not None and shutil.which("taskset"):
        prefix += ["taskset", "-c", str(core)]
    if nice:
        prefix += ["nice", "-n", str(nice)]
    return [*prefix, *command]


class ChatServer(Server):
    """A chat server for the bench: a dialect for the load generator, pinning, niceness."""

    dialect = "confab"

    def __init__(self, work: Path, core: int | None, nice: int = 0) -> None:
        super().__init__(work, processes=1)
        self.core = core
        self.nice = nice

    def inner_command(self) -> tuple[list[str], dict[str, str]]:
        """The server's own command line and environment."""
        raise NotImplementedError

    def command(self) -> tuple[list[str], dict[str, str]]:
        cmd, env = self.inner_command()
        return wrap(cmd, self.core, self.nice), env

    def ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def restart(self) -> None:
        """A fresh process for the next phase (clean memory baseline)."""
        self.stop()
        self.start()


def _peer_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


class WebsocketsPeer(ChatServer):
    """The bare `websockets` broadcast server (the ceiling)."""

    dialect = "websockets"

    name = "websockets"

    def inner_command(self) -> tuple[list[str], dict[str, str]]:
        cmd = [sys.executable, "-m", "bench.chat.peer_websockets", "--port", str(self.port)]
        return cmd, _peer_env()


class SocketIOPeer(ChatServer):
    """python-socketio AsyncServer under uvicorn + uvloop."""

    name = "socketio"
    dialect = "socketio"

    def inner_command(self) -> tuple[list[str], dict[str, str]]:
        cmd = [sys.executable, "-m", "bench.chat.peer_socketio", "--port", str(self.port)]
        return cmd, _peer_env()


class Confab(ChatServer):
    """`confab up` on a fresh copy of the seeded data dir."""

    name = "confab"

    def __init__(
        self, work: Path, core: int | None, seed: Path | None = None, nice: int = 0
    ) -> None:
        super().__init__(work, core, nice)
        self.seed = seed
        self.data_dir = work / "confab-data"
        self.extra_env: dict[str, str] = {}
        # Another version's `confab` (the many-rooms bench runs the current one beside it).
        self.executable = Path(sys.executable).parent / "confab"

    def inner_command(self) -> tuple[list[str], dict[str, str]]:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        if self.seed is not None:
            shutil.copytree(self.seed, self.data_dir)
        env = {
            **os.environ,
            # The media role idles in this bench: one render process is enough.
            "CONFAB_MEDIA_RENDER_PROCESSES": "1",
            "CONFAB_LOG_LEVEL": "WARNING",
            # Many connections per bench user, and a ticket per connection.
            "CONFAB_CHAT_WS_MAX_PER_USER": "1000000",
            **MANY_USERS_ONE_ADDRESS,
            **self.extra_env,
        }
        cmd = [
            str(self.executable), "up",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--data", str(self.data_dir),
        ]  # fmt: skip
        return cmd, env

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


async def _retrying(
    client: httpx.AsyncClient, method: str, url: str, ok: tuple[int, ...], **kwargs: object
) -> httpx.Response:
    """One API call; retried (bounded) on 429 and 503, raised on any status not in `ok`."""
    for attempt in range(30):
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        if response.status_code in (429, 503):
            retry = float(response.headers.get("retry-after", "0") or 0)
            await asyncio.sleep(min(10.0, max(retry, 0.2 * (attempt + 1))))
            continue
        if response.status_code not in ok:
            raise RuntimeError(
                f"{method} {url} answered {response.status_code}: {response.text[:300]}"
            )
        return response
    raise RuntimeError(f"{method} {url} still rate-limited after 30 attempts")


async def seed_confab_async(base: str, users: int, room: str, concurrency: int = 8) -> list[str]:
    """Sign up `users` accounts, get their tokens, create `room`, join everyone; the tokens."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def one(name: str) -> str:
            async with gate:
                body = {"username": name, "password": PASSWORD}
                await _retrying(client, "POST", "/api/accounts", (201, 409), json=body)
                response = await _retrying(client, "POST", "/api/tokens", (200, 201), json=body)
                return str(response.json()["token"])

        tokens = list(await asyncio.gather(*(one(name) for name in usernames(users))))
        owner = {"Authorization": f"Bearer {tokens[0]}"}
        create = {"name": room}
        await _retrying(client, "POST", "/api/rooms", (201, 409), json=create, headers=owner)

        async def join(token: str) -> None:
            async with gate:
                await _retrying(
                    client,
                    "POST",
                    f"/api/rooms/{room}/members",
                    (200, 201, 204, 409),
                    headers={"Authorization": f"Bearer {token}"},
                    json={},
                )

        await asyncio.gather(*(join(token) for token in tokens[1:]))
    return tokens


def seed_confab(work: Path, core: int | None, users: int, room: str) -> tuple[Path, list[str]]:
    """Start Confab on an empty data dir, seed it, stop it; (seed data dir, tokens)."""
    server = Confab(work / "seeding", core)
    # Cheap argon2 for the bench's own accounts only (the measured runs sign nobody in):
    # 1,000 sign-ups and sign-ins at the default cost would take minutes on one core.
    server.extra_env = {**CHEAP_PASSWORD_HASHING, **MANY_USERS_ONE_ADDRESS}
    seed = work / "confab-seed"
    began = time.monotonic()
    server.start()
    try:
        tokens = asyncio.run(seed_confab_async(server.base, users, room))
    finally:
        server.stop()
    if seed.exists():
        shutil.rmtree(seed)
    shutil.copytree(server.data_dir, seed)
    (work / "confab-tokens.json").write_text(json.dumps(tokens))
    print(f"  seeded {users} Confab users in {time.monotonic() - began:.0f} s")
    return seed, tokens


def room_last_seq(base: str, token: str, room: str) -> int | None:
    """The room's last_seq through Confab's API (None if it cannot be read)."""
    try:
        response = httpx.get(
            f"{base}/api/rooms/{room}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        if response.status_code != 200:
            return None
        return int(response.json()["last_seq"])
    except (httpx.HTTPError, KeyError, ValueError):
        return None
