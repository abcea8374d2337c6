"""A node serving HTTP from several processes (`--processes N`): both serve, they share
the result cache, a thumbnail renders once across them, and SIGTERM stops them all."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from bench.procs import free_port
from prometheus_client.parser import text_string_to_metric_families

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
        # The supervisor says the node listens once every process does.
        wait_until(lambda: "(2 processes)" in server.log())
        assert listening_sockets(base.port or 80) == 2
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


def request_counts(exposition: str) -> dict[str, float]:
    """confab_http_requests_total of route "healthz", by process label."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "confab_http_requests_total" and sample.labels["route"] == "healthz":
                process = sample.labels["process"]
                counts[process] = counts.get(process, 0.0) + sample.value
    return counts


def answering(exposition: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "confab_http_processes" and sample.labels["state"] == "answering":
                return sample.value
    raise AssertionError("no confab_http_processes in the exposition")


def test_one_metrics_port_answers_for_every_process(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = {"CONFAB_METRICS_PORT": str(metrics_port), "CONFAB_MEDIA_RENDER_PROCESSES": "2"}
    with confab_server(
        tmp_path / "data", "--roles", "media", "--processes", "2", command="serve", env=env
    ) as server:
        wait_until(lambda: "(2 processes)" in server.log())
        assert listening_sockets(metrics_port) == 1  # the supervisor's: no process binds it
        scrape = f"http://127.0.0.1:{metrics_port}/metrics"
        before = request_counts(httpx.get(scrape).text)
        for _ in range(40):  # a new connection each: the kernel spreads them
            assert httpx.get(f"{server.url}/healthz").status_code == 200
        text = httpx.get(scrape).text
        after = request_counts(text)
        added = {process: after[process] - before.get(process, 0.0) for process in after}
        assert set(added) == {"0", "1"}
        assert sum(added.values()) == 40  # every request counted once, by its process
        assert all(count > 0 for count in added.values())
        assert answering(text) == 2
        assert httpx.get(f"{server.url}/metrics").status_code == 404  # not on the public port

        # A process that dies is replaced in its slot; the scrape has both again.
        first = children(server.process.pid)[0]
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: first not in children(server.process.pid))
        wait_until(lambda: answering(httpx.get(scrape).text) == 2)
        assert set(request_counts(httpx.get(scrape).text)) <= {"0", "1"}
        process = server.process
    assert process.returncode == 0


def test_the_public_metrics_of_several_processes_answer_for_all(tmp_path: Path) -> None:
    with confab_server(
        tmp_path / "data", "--roles", "media", "--processes", "2", command="serve"
    ) as server:
        wait_until(lambda: "(2 processes)" in server.log())
        for _ in range(20):
            httpx.get(f"{server.url}/healthz")
        # Whichever process answers, the exposition holds both (the loopback may scrape).
        for _ in range(4):
            text = httpx.get(f"{server.url}/metrics").text
            assert set(request_counts(text)) == {"0", "1"}
            assert answering(text) == 2


def _serve_two(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "confab.cli", "serve", "--roles", "media"]
    command += ["--processes", "2", "--port", str(free_port()), "--data", str(tmp_path)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


def test_a_node_whose_processes_cannot_start_exits_with_their_reason(tmp_path: Path) -> None:
    done = _serve_two(tmp_path, {"CONFAB_JOBS_URL": "nosuch://queue"})
    assert done.returncode == 1
    assert "cannot start" in done.stderr and "nosuch" in done.stderr
    assert "listening" not in done.stdout


def test_a_busy_metrics_port_is_a_clear_refusal(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve_two(tmp_path, {"CONFAB_METRICS_PORT": str(port)})
    assert done.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr
