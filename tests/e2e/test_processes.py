"""A node serving HTTP from several processes (`--processes N`): both serve, they share
the result cache, a thumbnail renders once across them, and SIGTERM stops them all."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from confab.core.upload_grants import HEADER, sign_grant, upload_grant_key
from confab.media.domain.signing import sign
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.sources import jpeg

pytestmark = pytest.mark.e2e

KEY = "processes-test-key"


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def listening_sockets(port: int) -> int:
    """How many sockets listen on TCP `port` (IPv4, Linux /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
            count += 1
    return count


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def log_entries(server: ServerHandle) -> list[dict[str, object]]:
    entries = []
    for line in server.log().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def test_a_media_node_on_two_processes_shares_its_cache_and_renders_once(
    tmp_path: Path,
) -> None:
    env = {"CONFAB_MEDIA_SECURITY_KEY": KEY, "CONFAB_MEDIA_RENDER_PROCESSES": "2"}
    with confab_server(
        tmp_path / "data", "--roles", "media", "--processes", "2", command="serve", env=env
    ) as server:
        base = httpx.URL(server.url)
        # The supervisor answers once its first process serves; wait for the second too.
        wait_until(lambda: listening_sockets(base.port or 80) == 2)
        upload = httpx.post(
            base.join("/media/uploads"),
            content=jpeg(1600, 1200),
            headers={
                "Content-Type": "application/octet-stream",
                HEADER: sign_grant(upload_grant_key(KEY), "tester", 3600),
            },
            timeout=30,
        )
        assert upload.status_code in (200, 201), upload.text
        path = f"fit-in/120x90/upload/{upload.json()['id']}"
        url = base.join(f"/media/{sign(KEY, path)}/{path}")

        # Every request on a connection of its own: the kernel spreads them over both.
        def get(_: int) -> httpx.Response:
            return httpx.get(url, timeout=30)

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            first = list(pool.map(get, range(16)))
            later = list(pool.map(get, range(48)))
        assert {response.status_code for response in first + later} == {200}
        assert len({response.content for response in first + later}) == 1
        assert {response.headers["x-cache"] for response in later} == {"HIT"}
        assert len(children(server.process.pid)) == 2

        entries = log_entries(server)
        renders = [e for e in entries if e.get("msg") == "job" and e["task"] == "media.render"]
        assert len(renders) == 1, renders  # once across both processes
        served = {e["pid"] for e in entries if e.get("path") == url.path}
        assert len(served) == 2  # both processes answered thumbnail requests
        process = server.process
    assert process.returncode == 0  # SIGTERM reached both, and all exited cleanly


def test_chat_on_several_processes_needs_a_shared_bus(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "confab.cli", "up", "--processes", "2", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "CONFAB_BUS_URL=redis://" in done.stderr
