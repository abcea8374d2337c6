"""A chat node reports ready only once its bus (Redis) answers: before that it does not
listen, so nginx and Kubernetes send it nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from bench.procs import RedisServer, ServiceMissing, free_port, stop_process

from tests.conftest import skip_or_fail

pytestmark = pytest.mark.e2e


def _healthz(url: str) -> int | None:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code
    except httpx.HTTPError:
        return None


def test_chat_node_is_ready_only_once_its_bus_answers(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")  # its port is chosen, nothing listens yet
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CONFAB_BUS_URL": f"{redis.url}/0", "CONFAB_LOG_LEVEL": "INFO"}
    log = open(tmp_path / "node.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable, "-m", "confab.cli", "serve", "--roles", "chat",
            "--host", "127.0.0.1", "--port", str(port), "--data", str(tmp_path / "data"),
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        node_log = tmp_path / "node.log"
        deadline = time.monotonic() + 60
        while "waiting for the bus and the database" not in node_log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, node_log.read_text()
            time.sleep(0.1)
        # Assembled, and waiting: it must not listen while Redis is down.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "node.log").read_text()
            assert _healthz(url) is None, "the node answered before its bus was up"
            time.sleep(0.2)
        try:
            redis.start()
        except ServiceMissing as missing:
            skip_or_fail(str(missing))
        deadline = time.monotonic() + 30
        while _healthz(url) != 200:
            assert time.monotonic() < deadline, (tmp_path / "node.log").read_text()
            time.sleep(0.1)
    finally:
        stop_process(process, timeout=20)
        log.close()
        redis.stop()
