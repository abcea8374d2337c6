"""deploy/nginx.conf.template at work: a non-root nginx in front of real upstream processes.

Shows round robin over the chat nodes (no affinity), routing of /media/, /api, /ws and /,
WebSocket upgrades passing through, the forwarded headers, the body caps, and the passive
health checks: a chat node killed with SIGKILL, or one answering 503 while it drains, costs no
idempotent request; a 502 (Confab's "the source failed") is passed through, never retried.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import free_port, skip_or_fail
from tests.deploy.nginx import REPO, NginxHandle, nginx_binary, running_nginx
from tests.polling import wait_until

pytestmark = pytest.mark.e2e


@dataclass
class Upstream:
    name: str
    address: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def upstream(name: str, *, draining: bool = False) -> Iterator[Upstream]:
    """One `tests.deploy.upstream` process, ready to serve, stopped at the end."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.deploy.upstream", name, str(port)]
    process = subprocess.Popen(
        [*argv, *(["--draining"] if draining else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    handle = Upstream(name, f"127.0.0.1:{port}", process)
    try:

        def ready() -> bool:
            assert process.poll() is None, f"upstream {name} exited early"
            try:
                httpx.get(f"http://{handle.address}/ping", timeout=1)
            except httpx.HTTPError:
                return False
            return True

        wait_until(ready, 20, f"upstream {name} ready")
        yield handle
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def nginx_available() -> None:
    if nginx_binary() is None:
        skip_or_fail("nginx is not installed (apt-get install nginx)")


def _served_by(response: httpx.Response) -> str:
    return str(response.json()["name"])


def _upstream_fields(handle: NginxHandle, request_line: str) -> list[tuple[str, str]]:
    """(upstream_addr, upstream_status) of each access-log line for `request_line`."""
    rows = []
    for line in handle.access_log().splitlines():
        if f'"{request_line} HTTP/1.1"' not in line:
            continue
        addr = line.split('upstream="', 1)[1].split('"', 1)[0]
        status = line.split('ustatus="', 1)[1].split('"', 1)[0]
        rows.append((addr, status))
    return rows


def _ws_name(url: str) -> str:
    with connect(url, open_timeout=5, close_timeout=2) as ws:
        hello = json.loads(ws.recv(timeout=5))
        ws.send("ping through nginx")
        assert ws.recv(timeout=5) == "ping through nginx"
        return str(hello["name"])


def test_routes_balances_and_forwards(nginx_available: None) -> None:
    with ExitStack() as stack:
        chat_a = stack.enter_context(upstream("chat-a"))
        chat_b = stack.enter_context(upstream("chat-b"))
        media = stack.enter_context(upstream("media-a"))
        lb = stack.enter_context(
            running_nginx([chat_a.address, chat_b.address], [media.address], worker_processes="1")
        )
        with httpx.Client(base_url=lb.url, timeout=10) as client:
            names = Counter(_served_by(client.get(f"/api/rooms/{i}")) for i in range(20))
            # Round robin, no affinity: both chat nodes share the load.
            assert names == Counter({"chat-a": 10, "chat-b": 10})
            assert {_served_by(client.get("/")) for _ in range(4)} == {"chat-a", "chat-b"}
            assert _served_by(client.get("/media/unsafe/100x100/x.png")) == "media-a"

            echoed = client.get("/api/me").json()
            assert echoed["path"] == "/api/me"
            assert echoed["x_forwarded_for"] == "127.0.0.1"
            assert echoed["x_forwarded_proto"] == "http"
            assert echoed["x_real_ip"] == "127.0.0.1"
            assert echoed["host"] == "127.0.0.1"

            # Metrics are per node, never served through the balancer.
            assert client.get("/metrics").status_code == 404
            # Media's internal API (chat nodes call media directly) is not offered outside.
            internal = client.post("/media/internal/attachments", json={"ids": []})
            assert internal.status_code == 404
            assert internal.headers["content-type"].startswith("text/html")  # nginx's own page

            # Upload-sized bodies pass under /media/; the chat API keeps nginx's 1 MB cap.
            two_mb = b"\0" * (2 * 1024 * 1024)
            upload = client.post("/media/uploads", content=two_mb)
            assert upload.status_code == 200
            assert upload.json()["body_bytes"] == len(two_mb)
            assert client.post("/api/rooms", content=two_mb).status_code == 413

        ws_url = lb.url.replace("http://", "ws://") + "/ws"
        assert {_ws_name(ws_url) for _ in range(4)} == {"chat-a", "chat-b"}


def test_killed_node_costs_no_idempotent_request(nginx_available: None) -> None:
    with ExitStack() as stack:
        chat_a = stack.enter_context(upstream("chat-a"))
        chat_b = stack.enter_context(upstream("chat-b"))
        media = stack.enter_context(upstream("media-a"))
        lb = stack.enter_context(
            running_nginx(
                [chat_a.address, chat_b.address],
                [media.address],
                worker_processes="1",
                fail_timeout="30s",
            )
        )
        ws_url = lb.url.replace("http://", "ws://") + "/ws"
        with httpx.Client(base_url=lb.url, timeout=10) as client:
            assert {_served_by(client.get(f"/api/warm/{i}")) for i in range(4)} == {
                "chat-a",
                "chat-b",
            }
            # A WebSocket is open through nginx when the node dies.
            stack.enter_context(connect(ws_url, open_timeout=5))

            chat_b.kill()

            statuses = Counter()
            names = Counter()
            for i in range(30):
                response = client.get(f"/api/after/{i}")
                statuses[response.status_code] += 1
                names[_served_by(response)] += 1
            assert statuses == Counter({200: 30})
            assert names == Counter({"chat-a": 30})

            # The WebSocket handshake is a GET: it is retried on the live node too.
            assert {_ws_name(ws_url) for _ in range(4)} == {"chat-a"}

        # Proof that nginx did try the dead node and moved on (not luck of the rotation),
        # then stopped trying it: the passive health check.
        rows = [_upstream_fields(lb, f"GET /api/after/{i}")[0] for i in range(30)]
        retried = [addr for addr, _ in rows if "," in addr]
        assert retried, rows
        assert all(chat_b.address in addr.split(",")[0] for addr in retried)
        assert len(retried) <= 3  # max_fails=3, then chat-b is left out for fail_timeout
        assert rows[-1] == (chat_a.address, "200")


def test_draining_node_is_skipped_and_502_is_not_retried(nginx_available: None) -> None:
    with ExitStack() as stack:
        chat_a = stack.enter_context(upstream("chat-a"))
        draining = stack.enter_context(upstream("chat-b", draining=True))
        media = stack.enter_context(upstream("media-a"))
        lb = stack.enter_context(
            running_nginx([chat_a.address, draining.address], [media.address], worker_processes="1")
        )
        with httpx.Client(base_url=lb.url, timeout=10) as client:
            # A node answering 503 (starting or draining) is skipped for idempotent requests.
            for i in range(10):
                response = client.get(f"/api/drain/{i}")
                assert response.status_code == 200
                assert _served_by(response) == "chat-a"

            # 502 means "the source failed" in Confab: passed through as is, tried once.
            for i in range(4):
                assert client.get(f"/api/status/502/{i}").status_code == 502
        for i in range(4):
            rows = _upstream_fields(lb, f"GET /api/status/502/{i}")
            assert len(rows) == 1
            addr, status = rows[0]
            # Either the 502 node was asked alone, or the draining node's 503 came first.
            assert addr.split(", ")[-1] == chat_a.address
            assert status.split(", ")[-1] == "502"
