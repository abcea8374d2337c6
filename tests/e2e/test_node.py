"""A real `confab up` process: health, metrics, logs, secrets and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import stat
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection

from confab.node.drain import DRAIN_CLOSE_CODE, SPREAD_SHARE, parse_retry_ms
from tests.e2e.server import confab_server
from tests.e2e.wskit import ENV, open_chat


def test_up_serves_health_metrics_and_drains_on_sigterm(tmp_path: Path) -> None:
    with confab_server(tmp_path / "data") as server:
        health = httpx.get(f"{server.url}/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ready"
        assert set(health.json()["roles"]) == {"chat", "media"}

        missing = httpx.get(f"{server.url}/no/such/page")
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"

        metrics = httpx.get(f"{server.url}/metrics")
        assert metrics.status_code == 200
        assert "text/plain" in metrics.headers["content-type"]
        assert 'confab_http_requests_total{method="GET",route="healthz",status="200"}' in (
            metrics.text
        )

        key_file = server.data_dir / "media_security_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0

    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["msg"] == "request"]
    assert any(r["path"] == "/healthz" and r["status"] == 200 for r in requests)
    assert all("duration_ms" in r for r in requests)
    assert "listening on http://127.0.0.1:" in server.log()


async def test_a_second_sigterm_closes_what_is_left_at_once_and_exits(tmp_path: Path) -> None:
    grace = 30.0  # a whole drain would take 21 s (70% of it) to close the last socket
    env = {**ENV, "CONFAB_SHUTDOWN_GRACE_SECONDS": str(grace)}
    with confab_server(tmp_path / "data", env=env) as server:
        opened = contextlib.AsyncExitStack()
        async with open_chat(server) as chat:
            _, token = await chat.user()
            sockets = [await opened.enter_async_context(chat.socket(token)) for _ in range(8)]

        async def closed(ws: ClientConnection) -> tuple[float, int | None, str]:
            await ws.wait_closed()
            return time.monotonic(), ws.close_code, ws.close_reason or ""

        waits = [asyncio.ensure_future(closed(ws)) for ws in sockets]
        server.process.send_signal(signal.SIGTERM)
        # The first batch goes at once, the next one 3 s later (8 sockets over 21 s).
        first, _ = await asyncio.wait(waits, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        assert first, "no socket was closed after the first SIGTERM"
        hurried_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        ends = await asyncio.wait_for(asyncio.gather(*waits), 10)
        assert server.process.wait(timeout=10) == 0
        exited_after = time.monotonic() - hurried_at
        await opened.aclose()

    assert [code for _, code, _ in ends] == [DRAIN_CLOSE_CODE] * len(sockets), ends
    # What the first signal left open was closed at once by the second, not on schedule.
    rest = [at for at, _, _ in ends if at >= hurried_at]
    assert len(rest) >= len(sockets) - 2
    # On schedule the last would close 21 s in; bounds loose enough for a loaded machine.
    assert max(rest) - hurried_at < 3.0
    assert exited_after < 0.5 * SPREAD_SHARE * grace
    # Still told to come back over the rest of the drain, not all at once.
    retries = [parse_retry_ms(reason) for _, _, reason in ends]
    assert all(r is not None and 0 <= r <= SPREAD_SHARE * grace * 1000 for r in retries)
    assert len(set(retries)) > 1
    assert "second signal" in server.log()


def test_bad_setting_exits_with_a_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "confab.cli",
            "serve",
            "--roles",
            "chat,nope",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid setting" in result.stderr
    assert "Traceback" not in result.stderr
